"""Prometheus metrics: request latency, scores by tier, queue depth, task failures and lag,
the model in use. Served at /metrics.

Under gunicorn with several worker processes each process has its own counters; set
PROMETHEUS_MULTIPROC_DIR to an empty, writable directory (wiped at start-up) and every
process writes its values there, and /metrics adds them up (prometheus_client's
multiprocess mode). Celery workers do the same and can serve their own /metrics on
WORKER_METRICS_PORT.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import time
from typing import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # The metric files are created on first use; a worker started before the directory fails otherwise.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUEST_LATENCY = Histogram(
    "fraud_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern, method and status code",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SCORES = Counter("fraud_scores", "Events scored and stored, by risk tier", ["tier"])
TASKS_FAILED = Counter("fraud_celery_task_failures", "Celery tasks that raised, by task name", ["task"])
TASKS_SUCCEEDED = Counter("fraud_celery_task_successes", "Celery tasks that finished, by task name", ["task"])
TASK_LAG = Histogram(
    "fraud_celery_task_lag_seconds",
    "Time from a task being queued to a worker starting it",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
TASK_DURATION = Histogram(
    "fraud_celery_task_duration_seconds",
    "Time a worker spent on a task",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0),
)


def observe_scores(tiers: Iterable[str]) -> None:
    """Count freshly stored scores by tier (called by the scoring service)."""
    for tier in tiers:
        SCORES.labels(tier=tier).inc()


# --------------------------------------------------------------------------- read at scrape time


class QueueDepthCollector(Collector):
    """Messages waiting in the Celery queue: a Redis list per queue, read at scrape time."""

    def describe(self):
        return []  # registering must not touch the broker

    def collect(self):
        family = GaugeMetricFamily("fraud_celery_queue_length", "Messages waiting in the Celery queue", labels=["queue"])
        if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL.startswith("redis"):
            yield family
            return
        import redis

        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        try:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
            family.add_metric([queue], client.llen(queue))
        except Exception as exc:  # a scrape must not fail because the broker is down
            log.warning("queue depth unavailable: %s", exc)
        yield family


class ModelCollector(Collector):
    """Which model version this process scores with, and the learning loop's open drift alerts."""

    def describe(self):
        return []  # registering must not touch the database

    def collect(self):
        from scoring.registry import ModelUnavailable, champion_model

        info = GaugeMetricFamily(
            "fraud_model_version_info", "The model version in use (1 for the champion this process loaded)",
            labels=["version"],
        )
        try:
            info.add_metric([champion_model().version_name], 1)
        except ModelUnavailable:
            from scoring.fallback import FALLBACK_VERSION

            info.add_metric([FALLBACK_VERSION], 1)
        except Exception as exc:  # database down: report nothing rather than fail the scrape
            log.warning("model version unavailable: %s", exc)
        yield info
        try:
            from learning.models import DriftAlert, DriftCheck
            from triage.models import Score

            alerts = GaugeMetricFamily("fraud_drift_alerts_open", "Drift alerts not yet acknowledged")
            alerts.add_metric([], DriftAlert.objects.filter(acknowledged_at=None).count())
            yield alerts
            latest = DriftCheck.objects.first()
            psi = GaugeMetricFamily("fraud_drift_max_psi", "Largest PSI of the latest drift check")
            if latest is not None:
                psi.add_metric([], latest.max_psi)
            yield psi
            pending = GaugeMetricFamily("fraud_explanations_pending", "Scores still waiting for their explanation")
            pending.add_metric([], Score.objects.filter(explanation_status=Score.ExplanationStatus.PENDING).count())
            yield pending
        except Exception as exc:
            log.warning("learning-loop gauges unavailable: %s", exc)


_COLLECTORS = (QueueDepthCollector(), ModelCollector())
for _collector in _COLLECTORS:
    REGISTRY.register(_collector)


def registry() -> CollectorRegistry:
    """The registry to expose: the process's own, or all processes' in multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)
    for collector in _COLLECTORS:
        combined.register(collector)
    return combined


# --------------------------------------------------------------------------- /metrics


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token and request.META.get("HTTP_AUTHORIZATION", "") == f"Bearer {token}":
        return True
    # Through a proxy or ingress the caller is somebody on the outside: token only.
    if request.META.get("HTTP_X_FORWARDED_FOR"):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return JsonResponse(
            {"errors": [{"field": "Authorization", "code": "forbidden",
                         "message": "metrics need a bearer token from outside the allowed networks"}]},
            status=403,
        )
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Latency histogram per route pattern (not per URL, which would explode the label count)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None and match.route else "unmatched"
        REQUEST_LATENCY.labels(route=route, method=request.method, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


# --------------------------------------------------------------------------- Celery


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="metrics-prerun")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="metrics-postrun")
    signals.task_failure.connect(_task_failed, weak=False, dispatch_uid="metrics-failure")
    signals.worker_ready.connect(_serve_worker_metrics, weak=False, dispatch_uid="metrics-worker-server")


def stamp_published_at(sender=None, headers=None, **kwargs) -> None:
    if headers is not None:
        headers["published_at"] = time.time()


def _task_started(sender=None, task=None, **kwargs) -> None:
    if task is None:
        return
    task._metrics_started = time.perf_counter()
    published = getattr(task.request, "published_at", None)
    if published:
        TASK_LAG.labels(task=task.name).observe(max(time.time() - float(published), 0.0))


def _task_finished(sender=None, task=None, state=None, **kwargs) -> None:
    if task is None:
        return
    started = getattr(task, "_metrics_started", None)
    if started is not None:
        TASK_DURATION.labels(task=task.name).observe(time.perf_counter() - started)
    if state == "SUCCESS":
        TASKS_SUCCEEDED.labels(task=task.name).inc()


def _task_failed(sender=None, **kwargs) -> None:
    TASKS_FAILED.labels(task=getattr(sender, "name", "unknown")).inc()


def _serve_worker_metrics(**kwargs) -> None:
    port = int(os.environ.get("WORKER_METRICS_PORT", "0") or 0)
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, registry=registry())
        log.info("worker metrics on :%d/metrics", port)
