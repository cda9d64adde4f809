"""The generator's drift period raises a drift alert; the weeks before it do not."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from learning.drift import drift_check, reference_rows
from learning.lifecycle import model_version_promote, model_version_register
from learning.models import DriftAlert, DriftCheck, TrainingRun
from ml.features import batch_features
from ml.psi import psi, psi_against, reference_bins
from ml.training import TrainingConfig, train_model
from scoring.store.events import events_load
from tests.support.factories import DEMO_PASSWORD
from tests.support.worlds import drifting_world, score_all
from webhooks.models import WebhookDelivery
from webhooks.services import delivery_attempt
from webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

WINDOW_DAYS = 3


def _windows(world: pd.DataFrame):
    end = world["timestamp"].max()
    drift_from = end - pd.Timedelta(days=WINDOW_DAYS)
    control_from = drift_from - pd.Timedelta(days=WINDOW_DAYS)
    return world[world["timestamp"] < control_from], world[
        (world["timestamp"] >= control_from) & (world["timestamp"] < drift_from)
    ], world[world["timestamp"] >= drift_from]


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append({
            "raw": body, "body": json.loads(body), "signature": self.headers.get(SIGNATURE_HEADER, ""),
            "timestamp": self.headers.get(TIMESTAMP_HEADER, ""),
        })
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/drift", _Receiver.received
    server.shutdown()


@pytest.fixture
def parked_tasks(settings):
    """Tasks go to a queue nobody consumes (explanations, retraining, webhook), so the test
    can see what was sent without paying for it; the queue is dropped afterwards."""
    import redis

    from config.celery import app

    queue = f"parked-{uuid.uuid4().hex[:8]}"
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def sent() -> list[str]:
        return [json.loads(m)["headers"]["task"] for m in broker.lrange(queue, 0, -1)]

    yield sent
    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    app.conf.task_always_eager = True
    broker.delete(queue)


def _parked_soon(parked_tasks, names: set[str], seconds: float = 10) -> bool:
    """Whether these tasks reach the parked queue: deliveries are handed over by a background thread."""
    deadline = time.monotonic() + seconds
    while not names <= set(parked_tasks()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.django_db(transaction=True)
def test_the_drift_period_raises_an_alert_and_the_weeks_before_do_not(
    settings, api_client_and_key, service, manager, webhook_receiver, parked_tasks
):
    url, received = webhook_receiver
    settings.DRIFT_WEBHOOK_URL = url
    settings.DRIFT_WEBHOOK_SECRET = "s3cret"
    history, control, drifting = _windows(drifting_world())
    events_load(frame=history, client=api_client_and_key[0])
    frame = history.copy()
    frame["is_fraud"] = frame["is_fraud"].astype("float64")
    result = train_model(frame, TrainingConfig(capacity_per_day=20, max_rounds=60))
    champion = model_version_promote(version=model_version_register(result=result), actor=None)

    # Three days just before the drift period: live traffic like the history.
    score_all(service, control)
    calm = drift_check()
    assert calm is not None and calm.rows == len(control)
    assert calm.max_psi < settings.DRIFT_PSI_THRESHOLD, sorted(calm.psi.items(), key=lambda kv: -kv[1])[:5]
    assert not DriftAlert.objects.exists()

    # The drift period's three days, judged on their own.
    control_end = timezone.now()
    score_all(service, drifting)
    # The window starts exactly where the control period's scoring ended.
    checked_at = timezone.now()
    settings.DRIFT_WINDOW_HOURS = (checked_at - control_end).total_seconds() / 3600
    check = drift_check(now=checked_at)
    assert check.rows == len(drifting)
    alert = DriftAlert.objects.get()
    assert alert.model_version == champion and alert.check_run == check
    assert alert.max_psi > settings.DRIFT_PSI_THRESHOLD
    # The new pattern is far from home at odd hours: distance and travel speed move.
    assert {"km_from_prev_event", "travel_speed_kmh"} & set(alert.drifted)
    assert "day_of_week" not in check.psi
    assert AuditEntry.objects.filter(action="drift_alert", object_id=str(champion.pk)).exists()
    # The alert queued its webhook (a delivery in the webhook log, to the operators) and a
    # retraining; the webhook task delivers it, signed like every callback.
    delivery = WebhookDelivery.objects.get(event="model.drift_alert")
    assert delivery.client is None and delivery.url == url
    assert _parked_soon(parked_tasks, {"webhooks.tasks.deliver_webhook", "learning.tasks.retrain"})
    assert alert.retraining_requested
    assert TrainingRun.objects.get(trigger="drift").status == "queued"
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the receiver is on loopback
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert [r["body"]["data"]["alert_id"] for r in received] == [alert.pk]
    assert received[0]["body"]["event"] == "model.drift_alert"
    assert verify_signature(secret="s3cret", body=received[0]["raw"], timestamp=received[0]["timestamp"],
                            signature_header=received[0]["signature"])

    # A second check keeps the one open alert; the dashboard and its API show it.
    drift_check()
    assert DriftAlert.objects.count() == 1
    assert WebhookDelivery.objects.filter(event="model.drift_alert").count() == 1
    # A busy window is compared through an evenly spread sample, and still trips.
    settings.DRIFT_MAX_ROWS = 300
    sampled = drift_check()
    assert 200 <= sampled.rows <= 301 and sampled.max_psi > settings.DRIFT_PSI_THRESHOLD
    desk = Client()
    assert desk.login(username=manager.username, password=DEMO_PASSWORD)
    body = desk.get("/api/drift/alerts").json()
    assert [a["id"] for a in body["alerts"]] == [alert.pk]
    assert body["latest_check"]["max_psi"] == pytest.approx(DriftCheck.objects.first().max_psi)
    assert desk.post(f"/api/drift/alerts/{alert.pk}/acknowledge").status_code == 200
    assert desk.get("/api/drift/alerts").json()["alerts"] == []
    assert AuditEntry.objects.filter(action="drift_alert_acknowledged").exists()


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(3)
    reference = reference_bins(rng.normal(0, 1, 20_000))
    assert psi_against(reference, rng.normal(0, 1, 5_000)) < 0.01
    assert psi_against(reference, rng.normal(0.5, 1, 5_000)) > 0.2
    # A feature that starts arriving empty drifts through its missing-value bin.
    assert psi_against(reference, np.full(1000, np.nan)) > 1
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0


def test_features_of_the_weeks_before_the_drift_period_stay_below_the_threshold(settings):
    """The same comparison on batch features, without the database: no false alarm."""
    world = drifting_world().copy()
    world["seq"] = np.arange(len(world))
    features = batch_features(world)
    history, control, _ = _windows(world)
    rows = reference_rows(world["timestamp"], among=world.index.isin(history.index))
    reference = features.loc[world.index[rows]]
    for name in features.columns.drop(settings.DRIFT_IGNORED_FEATURES, errors="ignore"):
        value = psi_against(reference_bins(reference[name].to_numpy()), features.loc[control.index, name].to_numpy())
        assert value < 0.2, (name, value)
