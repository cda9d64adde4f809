"""stream: a partner system posting live events to a running server, retrying what fails."""
from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib import request

from django.core.management import call_command

from accounts.models import ApiClient
from synthetic.stream import StreamConfig, retry_delay, stream_run
from triage.models import Score, Transaction


def run_stream(**options) -> str:
    out = io.StringIO()
    call_command("stream", stdout=out, accounts=30, report_every=0.5, **options)
    return out.getvalue()


def test_stream_registers_then_its_events_are_stored_and_scored(live_server, settings):
    settings.ENROLLMENT_TOKEN = "enroll-for-tests"
    output = run_stream(url=live_server.url, rate=25, count=12, enrollment_token="enroll-for-tests", name="partner-sim")

    client = ApiClient.objects.get(name="partner-sim", kind=ApiClient.Kind.API)
    events = Transaction.objects.filter(client=client)
    assert events.count() == 12
    assert Score.objects.filter(transaction__client=client).count() == 12
    assert all(event_id.startswith("live-") for event_id in events.values_list("event_id", flat=True))
    assert "done: sent 12" in output and "errors 0" in output
    tiers = Score.objects.filter(transaction__client=client).values_list("tier", flat=True)
    counted = {tier: list(tiers).count(tier) for tier in ("low", "medium", "high")}
    assert f"tiers low {counted['low']} / medium {counted['medium']} / high {counted['high']}" in output


def test_stream_in_batches_with_an_existing_key(live_server, api_client_and_key):
    client, key = api_client_and_key
    output = run_stream(url=live_server.url, rate=50, count=10, batch=5, api_key=key)
    assert Transaction.objects.filter(client=client).count() == 10
    assert Score.objects.filter(transaction__client=client).count() == 10
    assert "done: sent 10" in output


def test_a_refused_key_is_counted_as_errors_not_retried(live_server):
    output = run_stream(url=live_server.url, rate=50, count=3, api_key="ftw_not_a_real_key")
    assert "sent 0" in output and "errors 3" in output and "retries 0" in output
    assert "HTTP 401" in output
    assert not Transaction.objects.exists()


class _Flaky(BaseHTTPRequestHandler):
    """A network hop in front of the real server: answers 503, then 429, then passes through."""

    target = ""
    answers: list[int] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.answers:
            status = self.answers.pop(0)
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        forward = request.Request(self.target + self.path, data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": self.headers["Authorization"]})
        with request.urlopen(forward, timeout=10) as response:
            payload = response.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_failures_are_retried_and_nothing_is_lost_or_doubled(live_server, api_client_and_key):
    client, key = api_client_and_key
    _Flaky.target, _Flaky.answers = live_server.url, [503, 429, 502]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = StreamConfig(url=f"http://127.0.0.1:{server.server_port}", rate=40, count=6, accounts=30,
                              concurrency=1, backoff=0.01)
        stats = stream_run(config, api_key=key)
    finally:
        server.shutdown()
    assert (stats.sent, stats.errors, stats.retries) == (6, 0, 3)
    assert Transaction.objects.filter(client=client).count() == 6


def test_retry_waits_honour_retry_after_and_back_off():
    assert retry_delay(0, 0.2, "3") == 3.0
    assert all(0 <= retry_delay(attempt, 0.2) <= min(0.2 * 2**attempt, 10) for attempt in range(8))
    assert retry_delay(20, 0.2) <= 10

