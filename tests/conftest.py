"""Shared test setup: real PostgreSQL and Redis, named personas, a small trained model."""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

from tests.support.factories import DEMO_PASSWORD, _user, trained_result  # noqa: F401  (DEMO_PASSWORD: fixtures log in with it)

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make beside it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    problems = []
    if not database_url.startswith("postgres"):
        problems.append("DATABASE_URL must point at PostgreSQL (make test sets postgres://postgres@127.0.0.1:5432/postgres)")
    elif not _reachable(database_url, 5432):
        problems.append(f"PostgreSQL is not reachable at {urlparse(database_url).hostname}:{urlparse(database_url).port or 5432}; "
                        "start it (e.g. `pg_ctlcluster 15 main start` or `docker compose up -d postgres`)")
    if not redis_url:
        problems.append("REDIS_URL must be set (make test sets redis://127.0.0.1:6379/15)")
    elif not _reachable(redis_url, 6379):
        problems.append(f"Redis is not reachable at {urlparse(redis_url).hostname}:{urlparse(redis_url).port or 6379}; "
                        "start it (e.g. `redis-server --daemonize yes` or `docker compose up -d redis`)")
    if problems:
        pytest.exit("Tests need real services:\n  - " + "\n  - ".join(problems), returncode=3)


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = urlparse(settings.CELERY_BROKER_URL)
    return [f"database vendor: {engine}", f"celery broker: {broker.scheme}://{broker.hostname}:{broker.port}"]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Each test gets its own model directory and in-process tasks, and a clean model cache."""
    from config.celery import app
    from rules.engine import forget_rulebook
    from scoring.registry import forget_loaded_models

    settings.MODEL_DIR = tmp_path / "models"
    settings.MODEL_CACHE_SECONDS = 0
    app.conf.task_always_eager = True
    forget_loaded_models()
    forget_rulebook()  # lists and rules of an earlier test were rolled back
    yield
    forget_loaded_models()
    forget_rulebook()


# --------------------------------------------------------------------------- personas


@pytest.fixture
def reviewer(db):
    return _user("rita-reviewer", "reviewer")


@pytest.fixture
def second_reviewer(db):
    return _user("sam-reviewer", "reviewer")


@pytest.fixture
def manager(db):
    return _user("mona-manager", "manager")


@pytest.fixture
def outsider(db):
    return _user("oscar-outsider", None)


@pytest.fixture
def api_client_and_key(db):
    from accounts.services import api_client_create

    return api_client_create(name="checkout", webhook_url="", contact="ops@example.com")


@pytest.fixture
def service(api_client_and_key):
    """A DRF test client authenticated as a registered external service."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_client_and_key[1]}")
    return client


# --------------------------------------------------------------------------- model


@pytest.fixture
def champion(db):
    """A small LightGBM model trained on generated history, registered and promoted."""
    from learning.lifecycle import model_version_promote, model_version_register

    version = model_version_register(result=trained_result())
    return model_version_promote(version=version, actor=None)


