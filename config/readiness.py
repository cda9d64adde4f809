"""Dependency checks behind /readyz; each returns {"ok": bool, "detail": str}."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "detail": connection.vendor}
    except Exception as exc:  # any driver error means "not ready"
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}


def check_broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "detail": "in-process tasks (no broker configured)"}
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return {"ok": True, "detail": "redis"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}


def check_model() -> dict[str, Any]:
    from scoring.registry import ModelUnavailable, champion_model

    try:
        model = champion_model()
        return {"ok": True, "detail": model.version_name}
    except ModelUnavailable as exc:
        return {"ok": False, "detail": str(exc)}


def run_checks() -> dict[str, dict[str, Any]]:
    return {"database": check_database(), "broker": check_broker(), "model": check_model()}
