"""Webhooks: signed callbacks for high-tier events and decisions, retried, logged for managers.

A small HTTP server in a thread plays the client's receiver: it records each request
and answers with the status codes the test lines up.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Transaction
from webhooks.models import WebhookDelivery
from webhooks.signing import verify_signature

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self, statuses: list[int], location: str = "") -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def do_GET(self):  # noqa: N802 (a followed redirect would arrive as a GET)
                receiver.requests.append({"headers": dict(self.headers), "body": b"", "method": "GET"})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/fraud"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def start(statuses=(), location=""):
        made.append(Receiver(list(statuses), location))
        return made[-1]

    yield start
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def _loopback_receivers(settings):
    """The receivers here listen on loopback, which callbacks may reach only when allowed;
    the registration limit (per address, in the cache) starts from zero in every test."""
    from django.core.cache import cache

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    cache.clear()


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3


def _service_with_webhook(url: str):
    from accounts.services import api_client_create

    client, key = api_client_create(name="checkout-hooks", webhook_url=url)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client, api


def _post_high_tier_event(api, capture) -> dict:
    """Without a model the documented rules score: three failed small payments, then a big
    payment from a new device and network lands in the high tier."""
    for index, amount in enumerate((10, 11, 12)):
        api.post("/score", event(event_id=f"warm-{index}", amount=amount, payment_status="failed",
                                 timestamp=f"2026-11-20T09:0{index}:00Z"), format="json")
    with capture(execute=True):
        response = api.post("/score", event(event_id="big-one", amount=5000, device_id="dev-new",
                                            ip_address="198.51.100.77"), format="json")
    body = response.json()
    assert body["tier"] == "high", body
    return body


def test_high_tier_event_sends_a_signed_callback(receiver, django_capture_on_commit_callbacks):
    hook = receiver()
    client, api = _service_with_webhook(hook.url)
    _post_high_tier_event(api, django_capture_on_commit_callbacks)
    assert len(hook.requests) == 1
    sent = hook.requests[0]
    assert verify_signature(
        secret=client.webhook_secret, body=sent["body"],
        timestamp=sent["headers"]["X-Webhook-Timestamp"], signature_header=sent["headers"]["X-Webhook-Signature"],
    )
    assert abs(int(sent["headers"]["X-Webhook-Timestamp"]) - time.time()) < 60
    payload = json.loads(sent["body"])
    assert payload["event"] == "score.high_tier"
    assert payload["data"]["event_id"] == "big-one" and payload["data"]["tier"] == "high"
    # A forged or altered body, or another secret, does not verify.
    assert not verify_signature(secret=client.webhook_secret, body=sent["body"] + b" ",
                                timestamp=sent["headers"]["X-Webhook-Timestamp"],
                                signature_header=sent["headers"]["X-Webhook-Signature"])
    assert not verify_signature(secret="someone-else", body=sent["body"],
                                timestamp=sent["headers"]["X-Webhook-Timestamp"],
                                signature_header=sent["headers"]["X-Webhook-Signature"])


def test_an_old_timestamp_is_refused_as_a_replay():
    from webhooks.signing import signed_headers

    headers = signed_headers("s3cret", b"{}", now=time.time() - 3600)
    assert not verify_signature(secret="s3cret", body=b"{}", timestamp=headers["X-Webhook-Timestamp"],
                                signature_header=headers["X-Webhook-Signature"])


def test_low_tier_events_send_nothing(receiver, django_capture_on_commit_callbacks):
    hook = receiver()
    _, api = _service_with_webhook(hook.url)
    with django_capture_on_commit_callbacks(execute=True):
        tiers = {api.post("/score", event(event_id=f"calm-{i}", amount=20), format="json").json()["tier"]
                 for i in range(2)}
    assert "high" not in tiers
    assert hook.requests == [] and not WebhookDelivery.objects.exists()


def test_a_500_is_retried_and_every_attempt_is_logged(receiver, fast_retries, django_capture_on_commit_callbacks):
    hook = receiver(statuses=[500])
    _, api = _service_with_webhook(hook.url)
    _post_high_tier_event(api, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert [(a.number, a.status_code) for a in delivery.attempt_log.order_by("number")] == [(1, 500), (2, 200)]
    # Both attempts carried the same body, each freshly signed.
    assert hook.requests[0]["body"] == hook.requests[1]["body"]


def test_an_unreachable_receiver_fails_after_the_last_attempt(fast_retries, django_capture_on_commit_callbacks):
    _, api = _service_with_webhook("http://127.0.0.1:9/closed")
    _post_high_tier_event(api, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert all(a.status_code is None and a.error for a in delivery.attempt_log.all())


def test_a_decision_calls_back_the_service_that_sent_the_event(
    receiver, reviewer, django_capture_on_commit_callbacks
):
    hook = receiver()
    client, api = _service_with_webhook(hook.url)
    api.post("/score", event(event_id="to-decide", amount=30), format="json")
    txn = Transaction.objects.get(event_id="to-decide")
    person = APIClient()
    person.login(username=reviewer.username, password=DEMO_PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = person.post(f"/api/cases/{txn.pk}/decision", {"verdict": "flag", "disposition": "stolen_card", "expected_status": "open"},
                               format="json")
    assert response.status_code == 201
    decided = [json.loads(r["body"]) for r in hook.requests if json.loads(r["body"])["event"] == "case.decided"]
    assert len(decided) == 1
    assert decided[0]["data"]["event_id"] == "to-decide" and decided[0]["data"]["verdict"] == "flag"


def test_delivery_log_is_for_managers_only(receiver, manager, reviewer, fast_retries,
                                           django_capture_on_commit_callbacks):
    hook = receiver(statuses=[503])
    _, api = _service_with_webhook(hook.url)
    _post_high_tier_event(api, django_capture_on_commit_callbacks)

    boss = APIClient()
    boss.login(username=manager.username, password=DEMO_PASSWORD)
    log = boss.get("/api/webhooks/deliveries").json()["results"]
    assert log[0]["event"] == "score.high_tier" and log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["attempt_log"]] == [503, 200]
    page = boss.get("/webhooks/")
    assert page.status_code == 200 and b"HTTP 503" in page.content

    staff = APIClient()
    staff.login(username=reviewer.username, password=DEMO_PASSWORD)
    assert staff.get("/api/webhooks/deliveries").status_code == 403
    assert staff.get("/webhooks/").status_code == 403
    assert api.get("/api/webhooks/deliveries").status_code in (401, 403)  # an API key is no way in


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hooks",          # loopback
    "http://localhost/hooks",               # a name for loopback
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "https://10.1.2.3/hooks",               # a private network
    "http://[::1]/hooks",                   # IPv6 loopback
    "http://224.0.0.1/hooks",               # multicast, which Python calls global
    "http://[ff02::1]/hooks",               # IPv6 multicast
    "http://240.0.0.1/hooks",               # reserved
    "ftp://hooks.example.com/fraud",        # not http(s)
])
def test_registration_refuses_a_webhook_url_inside_our_network(settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.ENROLLMENT_TOKEN = "enrol-me"
    response = APIClient().post("/register", {"name": "sneaky", "webhook_url": url}, format="json",
                                HTTP_X_ENROLLMENT_TOKEN="enrol-me")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["webhook_url"], errors


def test_registration_accepts_a_public_or_allowed_webhook_url(settings):
    settings.ENROLLMENT_TOKEN = "enrol-me"
    for name, url in (("public", "https://203.0.114.10/hooks"), ("allowed", "http://127.0.0.1:8080/hooks")):
        response = APIClient().post("/register", {"name": name, "webhook_url": url}, format="json",
                                    HTTP_X_ENROLLMENT_TOKEN="enrol-me")
        assert response.status_code == 201, response.content


def test_a_delivery_to_a_name_that_now_points_inside_is_not_sent(
    receiver, settings, django_capture_on_commit_callbacks
):
    """Registered while allowed (or while its name pointed elsewhere): each attempt checks the
    address again, and a refused destination fails at once without a request."""
    hook = receiver()
    _, api = _service_with_webhook(hook.url.replace("127.0.0.1", "localhost"))
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _post_high_tier_event(api, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "private or reserved address" in delivery.attempt_log.get().error
    assert hook.requests == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(receiver, fast_retries, status,
                                                             django_capture_on_commit_callbacks):
    elsewhere = receiver()
    hook = receiver([status] * 3, location=elsewhere.url)
    _, api = _service_with_webhook(hook.url)
    _post_high_tier_event(api, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1  # the same URL would redirect again
    assert f"HTTP {status}" in delivery.attempt_log.get().error and "redirects" in delivery.attempt_log.get().error
    assert len(hook.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.django_db(transaction=True)
def test_callbacks_are_published_after_the_answer_not_inside_it(receiver, settings, monkeypatch):
    """/score answers without waiting for the broker: the callback is handed over by a
    background thread, and still arrives."""
    import threading
    import time as clock

    from webhooks import services

    settings.WEBHOOKS_IN_THREAD_WHEN_EAGER = True
    settings.EXPLAIN_PUBLISH_DELAY_MS = 0
    may_publish = threading.Event()
    enqueue = services.deliveries_enqueue

    def gated(ids):
        may_publish.wait(timeout=10)
        return enqueue(ids)

    monkeypatch.setattr(services, "deliveries_enqueue", gated)
    hook = receiver()
    _, api = _service_with_webhook(hook.url)
    for index, amount in enumerate((10, 11, 12)):
        api.post("/score", event(event_id=f"warm-{index}", amount=amount, payment_status="failed",
                                 timestamp=f"2026-11-20T09:0{index}:00Z"), format="json")
    started = clock.monotonic()
    body = api.post("/score", event(event_id="big-one", amount=5000, device_id="dev-new",
                                    ip_address="198.51.100.77"), format="json").json()
    assert body["tier"] == "high" and clock.monotonic() - started < 5
    assert hook.requests == []  # not sent from inside the request
    may_publish.set()
    deadline = clock.monotonic() + 20
    while clock.monotonic() < deadline and not hook.requests:
        clock.sleep(0.05)
    assert len(hook.requests) == 1
    assert json.loads(hook.requests[0]["body"])["data"]["event_id"] == "big-one"


def test_the_schema_of_the_delivery_log_says_what_it_answers(manager):
    """The published schema and the answer agree: an object with `results`, and the
    refusals (400/401/403) documented."""
    client = APIClient()
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/webhooks/deliveries"]["get"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    component = schema["components"]["schemas"][ref]
    assert component["type"] == "object" and component["properties"]["results"]["type"] == "array"
    client.login(username=manager.username, password=DEMO_PASSWORD)
    body = client.get("/api/webhooks/deliveries").json()
    assert set(body) == set(component["properties"]) and body["results"] == []
