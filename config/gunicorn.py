"""gunicorn settings for the web service: `gunicorn config.wsgi:application -c config/gunicorn.py`.

/score spends part of each request waiting on PostgreSQL (the commit waits for the WAL
flush), so a core can serve more than one request at a time: two worker processes per
core by default, each serving one request at a time (gunicorn's sync worker). Measured
with `bench/score_load.py`, threads (the gthread worker) kept client connections alive but
tied each one to a worker: a busy worker's clients waited while others idled, and 1-2 % of
requests took 0.4-0.6 s; sync workers take each request from the shared queue and the
slowest stayed under about 0.1 s. Put a proxy or load balancer that keeps client
connections alive in front (the ingress does). Environment: WEB_CONCURRENCY (workers),
GUNICORN_THREADS (threads per worker; above 1 uses the gthread worker), GUNICORN_BIND,
GUNICORN_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_MAX_REQUESTS. Anything else can be set with
GUNICORN_CMD_ARGS.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Keep-alive above the load balancer's idle timeout, so it never reuses a closed socket.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
# Every worker loads the model itself after the fork: LightGBM's OpenMP state and open
# database connections must not be shared between processes.
preload_app = False
# Workers restart now and then, which bounds slow memory growth of long-lived processes.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000


def on_starting(server):
    """Metrics files of a previous run would be added to this run's totals: start empty."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    """A dead worker's gauges must not linger in /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
