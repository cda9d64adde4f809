"""Pytest plugin: a real Celery worker process on a queue of its own, against the test database.

`celery_worker(settings, **env)` starts one for a block; the `worker` fixture for a test (marked
`worker`). The worker's log goes to a file (`worker_log`): a pipe would fill and stall it.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def celery_worker(settings, **extra_env: str) -> Iterator[subprocess.Popen]:
    """A solo-pool worker consuming a fresh queue; tasks sent from the test go there."""
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_QUEUE": queue,
        "MODEL_DIR": str(settings.MODEL_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        **extra_env,
    }
    present = _sessions(db["NAME"])  # the test's own; the worker's are the ones that appear after
    # A file, not a pipe: a long run's log would fill the pipe and stall the worker.
    log = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue, "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    process.log_path = log.name
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    _forget_routing(app)  # the routing tables are cached on first publish
    try:
        yield process
    finally:
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        app.conf.task_always_eager = True
        _forget_routing(app)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)
        _wait_for_sessions_to_close(db["NAME"], keep=present)


def worker_log(process: subprocess.Popen) -> str:
    """The end of the worker's log, for failure messages."""
    return Path(process.log_path).read_text(errors="replace")[-4000:]


def _forget_routing(app) -> None:
    for cached in ("default_queue", "queues", "router"):
        app.amqp.__dict__.pop(cached, None)


def _sessions(database: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        return {pid for (pid,) in cursor.fetchall()}


def _wait_for_sessions_to_close(database: str, *, keep: set[int], timeout: float = 10.0) -> None:
    # PostgreSQL ends a dead client's backend asynchronously; dropping the test database
    # while the worker's session is still listed fails at teardown. Sessions that were there
    # before the worker started are the test's own and stay.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _sessions(database) - keep:
        time.sleep(0.1)


def pytest_collection_modifyitems(items):
    for item in items:
        if "worker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)


@pytest.fixture
def worker(settings, transactional_db):
    """A worker for the whole test."""
    with celery_worker(settings) as process:
        yield process
