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


_migrated = False


def check_migrations() -> dict[str, Any]:
    """Every migration applied: a new release's pods stay out of rotation until the migrate job ran."""
    global _migrated
    if _migrated:
        return {"ok": True, "detail": "up to date"}
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    if plan:
        return {"ok": False, "detail": f"{len(plan)} migrations not applied, e.g. {plan[0][0]}"}
    _migrated = True  # migrations are never un-applied under a running process
    return {"ok": True, "detail": "up to date"}


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
    database = check_database()
    checks = {"database": database}
    checks["migrations"] = check_migrations() if database["ok"] else {"ok": False, "detail": "database unavailable"}
    checks["broker"] = check_broker()
    checks["model"] = check_model()
    return checks
