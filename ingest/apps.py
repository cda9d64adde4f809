from django.apps import AppConfig


class IngestConfig(AppConfig):
    """Event files (CSV, Parquet) read through a mapping and stored: `manage.py import_events`."""

    name = "ingest"
    verbose_name = "Event file import"
