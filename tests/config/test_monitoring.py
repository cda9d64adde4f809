"""/metrics exposes the named metrics to the monitoring network only; logs can be JSON; readiness checks migrations."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import event

ROOT = Path(__file__).resolve().parents[2]


@shared_task(name="tests.always_fails")
def always_fails() -> None:
    raise RuntimeError("this task fails on purpose")


def _scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _value(samples, name, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


@pytest.mark.django_db(transaction=True)
def test_metrics_expose_latency_scores_by_tier_queue_tasks_and_the_model(client, service, champion):
    before = _scrape(client)
    batch = [event(event_id=f"m{i}", account_id=f"a{i}", amount=float(10 + 300 * i)) for i in range(12)]
    tiers = [r["tier"] for r in service.post("/score", batch, format="json").json()["results"]]
    always_fails.delay()

    after = _scrape(client)
    for tier in set(tiers):
        gained = _value(after, "fraud_scores_total", tier=tier) - _value(before, "fraud_scores_total", tier=tier)
        assert gained == tiers.count(tier)
    requests = _value(after, "fraud_http_request_duration_seconds_count", route="/score", method="POST", status="200")
    assert requests >= 1
    assert _value(after, "fraud_model_version_info", version=champion.name) == 1.0
    failures = _value(after, "fraud_celery_task_failures_total", task="tests.always_fails")
    assert failures - _value(before, "fraud_celery_task_failures_total", task="tests.always_fails") == 1
    assert _value(after, "fraud_celery_task_successes_total", task="scoring.tasks.explain_scores") >= 1
    assert "fraud_celery_queue_length" in after  # read from Redis at scrape time
    assert "fraud_drift_alerts_open" in after and "fraud_explanations_pending" in after
    # The lag histogram is declared here; workers fill it (see the learning-loop worker test).
    text = client.get("/metrics").content.decode()
    assert "# TYPE fraud_celery_task_lag_seconds histogram" in text


def test_metrics_need_a_token_from_outside_the_allowed_networks(client, settings):
    settings.METRICS_TOKEN = "scrape-token-1234"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.50").status_code == 403
    # Through the ingress (X-Forwarded-For) even a private address is an outsider.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.50", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["field"] == "Authorization"
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.50", HTTP_AUTHORIZATION="Bearer scrape-token-1234")
    assert ok.status_code == 200


@pytest.mark.django_db
def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch):
    """Under gunicorn each worker process writes its values to PROMETHEUS_MULTIPROC_DIR."""
    code = "from config import metrics; metrics.observe_scores(['high', 'high', 'low'])"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    for _ in range(2):  # two processes, as two gunicorn workers
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from prometheus_client import generate_latest

    from config import metrics

    text = generate_latest(metrics.registry()).decode()
    assert 'fraud_scores_total{tier="high"} 4.0' in text
    assert 'fraud_scores_total{tier="low"} 2.0' in text
    assert "fraud_model_version_info" in text  # the scrape-time collectors come along


def test_json_logs_when_log_format_is_json():
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    code = "import django, logging; django.setup(); logging.getLogger('fraud.test').warning('drift checked', extra={'rows': 42})"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "drift checked" and line["level"] == "WARNING"
    assert line["logger"] == "fraud.test" and line["rows"] == 42


def test_bad_log_format_fails_at_start_up():
    env = {**os.environ, "LOG_FORMAT": "xml", "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "LOG_FORMAT must be plain or json" in result.stderr


@pytest.mark.django_db
def test_readyz_checks_migrations(client, champion):
    checks = client.get("/readyz").json()["checks"]
    assert checks["migrations"] == {"ok": True, "detail": "up to date"}
    assert set(checks) == {"database", "migrations", "broker", "model"}
