"""A partner system in a box: live events from the synthetic world, posted to `/score`.

`stream_run` sends events at a steady rate (open loop: the schedule does not wait for the
server), from a few worker threads so a slow answer does not slow the rate. A failed
request is retried with exponential backoff and jitter: connection errors, timeouts and 5xx
answers, and 429 after the server's `Retry-After`. Retrying is safe because `/score` is
idempotent per event_id. Any other 4xx is the sender's mistake and is counted, not retried.

Only the standard library speaks HTTP here, so the stream runs wherever the product does.
"""
from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib import error, request

import numpy as np
import pandas as pd

from synthetic.generator import EVENT_FIELDS, WorldConfig, generate_world, row_event

# What a streamed event carries besides its id, account and time (which the stream sets).
SENT_FIELDS = EVENT_FIELDS[3:]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class StreamError(RuntimeError):
    """The stream cannot start (registration refused, server unreachable)."""


@dataclass(frozen=True)
class StreamConfig:
    url: str  # the product's base URL, e.g. http://127.0.0.1:8000
    rate: float  # events per second
    batch: int = 1  # events per request; above 1 posts JSON arrays
    count: int | None = None  # stop after this many events
    seconds: float | None = None  # or after this long
    concurrency: int = 4  # requests in flight at most
    accounts: int = 500  # size of the synthetic world the events come from
    seed: int = 7
    timeout: float = 10.0  # seconds per request
    max_retries: int = 5
    backoff: float = 0.2  # first retry delay in seconds; doubles each time, capped at 10 s
    # "world": each event carries its own time in the synthetic world (shifted to end now),
    # so an account's events keep their real spacing however fast they are sent; "now":
    # every event is stamped with the moment it is sent, which squeezes days of an
    # account's history into seconds and makes every account look like a burst (load tests).
    clock: str = "world"


@dataclass
class StreamStats:
    sent: int = 0  # events answered with a score
    errors: int = 0  # events given up on (4xx, or retries exhausted)
    retries: int = 0
    tiers: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)  # per request, retries included
    last_error: str = ""
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def percentile(self, q: float) -> float:
        with self.lock:
            return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        tiers = " / ".join(f"{tier} {self.tiers.get(tier, 0)}" for tier in ("low", "medium", "high"))
        return (
            f"sent {self.sent:,} ({self.sent / elapsed:,.1f}/s) · tiers {tiers} · errors {self.errors:,} · "
            f"retries {self.retries:,} · latency p50 {self.percentile(50):.1f} ms, p95 {self.percentile(95):.1f} ms"
        )


# --------------------------------------------------------------------------- HTTP


def _post(url: str, body, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, str], object]:
    """POST JSON; returns (status, headers, decoded body). Raises OSError when nothing answered."""
    data = json.dumps(body).encode()
    req = request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except error.HTTPError as exc:
        payload = exc.read()
        try:
            decoded = json.loads(payload or b"null")
        except ValueError:
            decoded = payload.decode(errors="replace")[:200]
        return exc.code, dict(exc.headers), decoded


def client_register(*, url: str, enrollment_token: str, name: str, timeout: float = 10.0, attempts: int = 6) -> str:
    """Register as a new API client with the enrollment token; returns the API key.

    A server that is still starting (connection refused, 5xx) is retried with backoff."""
    for attempt in range(attempts):
        try:
            status, headers, body = _post(
                url.rstrip("/") + "/register",
                {"name": name, "contact": "stream command"},
                {"X-Enrollment-Token": enrollment_token},
                timeout,
            )
        except OSError as exc:
            problem, retry_after = f"cannot reach {url}: {exc}", None
        else:
            if status == 201:
                return body["api_key"]
            problem, retry_after = f"/register answered {status}: {body}", headers.get("Retry-After")
            if status not in RETRY_STATUSES:
                break
        if attempt < attempts - 1:
            time.sleep(retry_delay(attempt, 0.5, retry_after) + 0.5)
    raise StreamError(problem)


def retry_delay(attempt: int, base: float, retry_after: str | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's Retry-After
    when it gives one, else exponential backoff with full jitter, capped at 10 s."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), 60.0)
        except ValueError:
            pass  # an HTTP date: fall back to our own backoff
    return random.uniform(0, min(base * 2**attempt, 10.0))


# --------------------------------------------------------------------------- events


def live_events(config: StreamConfig) -> Iterator[dict]:
    """Endless events in the data contract, as JSON-ready dicts, from the synthetic world.

    Each has a fresh event_id, an account id of the run's own (`s<run>-acct-…`) and, with
    the world's clock, its time in the world shifted to end now (else the current time);
    the rest (device, amount, place, fraud scenario behaviour) comes from the generated
    world, in its time order, so accounts keep their habits and fraud keeps its shape.
    """
    run = uuid.uuid4().hex[:8]
    number = 0
    seed = config.seed
    # With the world's clock, the first world is shifted to end when the stream starts and
    # each later one follows on; see StreamConfig.clock.
    follows = datetime.now(timezone.utc)
    while True:
        world = generate_world(WorldConfig(accounts=max(config.accounts, 20), days=14, unlabeled_days=2,
                                           drift_days=7, seed=seed))
        world = world[["account_id", "timestamp", *SENT_FIELDS]].copy()
        if config.clock == "world":
            start, end = world["timestamp"].min(), world["timestamp"].max()
            shift = (follows - end) if number == 0 else (follows - start + pd.Timedelta(seconds=1))
            world["timestamp"] += shift
            world["account_created_at"] += shift
            follows = world["timestamp"].max()
        for record in world.to_dict("records"):
            stamp = record["timestamp"].to_pydatetime() if config.clock == "world" else datetime.now(timezone.utc)
            # The run's own customers: the generator's account ids would otherwise merge with
            # other people's stored history under the same id (the demo's, an earlier run's).
            event = {"event_id": f"live-{run}-{number:08d}", "account_id": f"s{run}-{record['account_id']}",
                     "timestamp": stamp.isoformat(timespec="milliseconds"), **row_event(record, SENT_FIELDS)}
            number += 1
            yield event
        seed += 1  # a new world once this one is used up


# --------------------------------------------------------------------------- the stream


def stream_run(
    config: StreamConfig,
    *,
    api_key: str,
    report: Callable[[StreamStats], None] | None = None,
    report_every: float = 2.0,
    stop: threading.Event | None = None,
) -> StreamStats:
    """Post events until `count` or `seconds` is reached, `stop` is set or Ctrl-C; returns
    the final numbers. `report` is called with the running numbers every `report_every` s."""
    stop = stop or threading.Event()
    stats = StreamStats()
    endpoint = config.url.rstrip("/") + "/score"
    headers = {"Authorization": f"Bearer {api_key}"}
    events = live_events(config)
    in_flight = threading.BoundedSemaphore(config.concurrency * 2)
    interval = config.batch / config.rate
    deadline = time.monotonic() + config.seconds if config.seconds else None
    queued = 0
    next_report = time.monotonic() + report_every

    def send(batch: list[dict]) -> None:
        try:
            _send_with_retries(endpoint, batch, headers, config, stats, stop)
        finally:
            in_flight.release()

    executor = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="stream")
    try:
        scheduled = time.monotonic()
        while not stop.is_set():
            if config.count is not None and queued >= config.count:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            size = config.batch if config.count is None else min(config.batch, config.count - queued)
            batch = [next(events) for _ in range(size)]
            wait = scheduled - time.monotonic()
            if wait > 0:
                stop.wait(wait)
            in_flight.acquire()
            executor.submit(send, batch)
            queued += size
            scheduled += interval
            if report and time.monotonic() >= next_report:
                report(stats)
                next_report += report_every
    except KeyboardInterrupt:
        stop.set()  # finish what is in flight, then report
    finally:
        executor.shutdown(wait=True)
    return stats


def _send_with_retries(endpoint, batch, headers, config: StreamConfig, stats: StreamStats, stop) -> None:
    body = batch if config.batch > 1 else batch[0]
    began = time.perf_counter()
    for attempt in range(config.max_retries + 1):
        retry_after = None
        try:
            status, response_headers, answer = _post(endpoint, body, headers, config.timeout)
        except OSError as exc:  # refused, reset, timed out: nothing was answered
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200:
                results = answer["results"] if isinstance(answer, dict) and "results" in answer else [answer]
                with stats.lock:
                    stats.sent += len(results)
                    stats.tiers.update(result["tier"] for result in results)
                    stats.latencies_ms.append((time.perf_counter() - began) * 1000)
                return
            problem = f"HTTP {status}: {str(answer)[:200]}"
            if status not in RETRY_STATUSES:
                break
            retry_after = response_headers.get("Retry-After")
        if attempt == config.max_retries or stop.is_set():
            break
        with stats.lock:
            stats.retries += 1
        stop.wait(retry_delay(attempt, config.backoff, retry_after))
    with stats.lock:
        stats.errors += len(batch)
        stats.last_error = problem
