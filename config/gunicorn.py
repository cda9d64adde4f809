"""gunicorn settings for the web service: `gunicorn config.wsgi:application -c config/gunicorn.py`.

/score spends part of each request waiting on PostgreSQL (the commit waits for the WAL
flush), so a core can serve more than one request at a time: two worker processes per
core by default. Environment: WEB_CONCURRENCY (workers), GUNICORN_THREADS (threads per
worker; above 1 uses the gthread worker, which also keeps client connections alive),
GUNICORN_BIND.
"""
from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = 5
# Every worker loads the model itself after the fork: LightGBM's OpenMP state and open
# database connections must not be shared between processes.
preload_app = False
timeout = 60
graceful_timeout = 30
