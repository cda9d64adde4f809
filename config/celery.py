"""The Celery application. Configuration comes from Django settings (CELERY_*)."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("fraud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every message carries its publish time, whoever sends it (web, worker or beat), so workers
# can report how long tasks waited; task durations, failures and the worker's own /metrics
# hang off Celery's signals too (config/metrics.py).
from celery.signals import before_task_publish  # noqa: E402

from config.metrics import connect_celery_signals, stamp_published_at  # noqa: E402

before_task_publish.connect(stamp_published_at, weak=False, dispatch_uid="metrics-publish")
connect_celery_signals()
