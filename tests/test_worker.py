"""A real Celery worker process takes explanation work from Redis and stores the result."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import event
from triage.models import Score

ROOT = Path(__file__).resolve().parents[1]


def _forget_routing(app) -> None:
    for cached in ("default_queue", "queues", "router"):
        app.amqp.__dict__.pop(cached, None)


@pytest.fixture
def worker(settings, transactional_db):
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_QUEUE": queue,
        "MODEL_DIR": str(settings.MODEL_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue, "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    _forget_routing(app)  # the routing tables are cached on first publish
    try:
        yield process
    finally:
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        _forget_routing(app)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        _wait_for_other_sessions_to_close(db["NAME"])


def _wait_for_other_sessions_to_close(database: str, timeout: float = 10.0) -> None:
    # PostgreSQL ends a dead client's backend asynchronously; dropping the test database
    # while the worker's session is still listed fails at teardown.
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def test_worker_computes_the_explanation_over_the_broker(service, champion, worker):
    assert not settings.CELERY_BROKER_URL.startswith("memory")
    response = service.post("/score", event(amount=4000), format="json")
    assert response.status_code == 200
    assert response.json()["explanation_status"] == "pending"
    deadline = time.monotonic() + 90
    score = Score.objects.get(transaction__event_id="evt-1")
    while time.monotonic() < deadline and score.explanation_status == "pending":
        time.sleep(0.3)
        score.refresh_from_db()
    if score.explanation_status != "ready":
        worker.terminate()
        output = worker.communicate(timeout=15)[0].decode(errors="replace")
        pytest.fail(f"worker did not explain the score; its log:\n{output[-4000:]}")
    assert score.explanation["method"] == "shap"
    assert len(score.explanation["contributions"]) == len(champion.manifest["features"])
