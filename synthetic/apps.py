from django.apps import AppConfig


class SyntheticConfig(AppConfig):
    """The synthetic world: generated events, the live stream and the demo's data.

    Commands only (`generate_data`, `stream`, `demo_setup`); no production module imports it.
    """

    name = "synthetic"
    verbose_name = "Synthetic data and demo"
