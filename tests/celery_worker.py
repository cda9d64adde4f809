"""Start a real Celery worker process on a queue of its own, against the test database."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


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
    # A file, not a pipe: a long run's log would fill the pipe and stall the worker.
    log = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue, "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    process.log_path = log.name
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        app.conf.task_always_eager = True
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)


def worker_log(process: subprocess.Popen) -> str:
    """The end of the worker's log, for failure messages."""
    return Path(process.log_path).read_text(errors="replace")[-4000:]
