"""Console logging; the level comes from LOG_LEVEL, the format from LOG_FORMAT (plain or json).

JSON lines (one object per record: time, level, logger, message and any `extra` fields)
are what log collectors such as Cloud Logging, Loki or Elasticsearch parse without rules.
"""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str
from config.settings.celery import CELERY_TASK_ALWAYS_EAGER

LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver's "Watching for file changes" (twice: Django's own handler and ours)
        # is nothing a user acts on, and it pushes the demo's URL and logins off screen.
        "django.utils.autoreload": {"level": "WARNING"},
    },
}
if CELERY_TASK_ALWAYS_EAGER:
    # Tasks run inside the web process (no broker): a "Task ... succeeded" line per task
    # is a worker's log, not the web server's; failures are still logged as errors.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
# Celery workers otherwise replace the root handler with their own plain-text one.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
