"""Benchmark: POST /score under gunicorn against PostgreSQL, over loopback.

    python bench/score_load.py                    # 100 req/s for 20 s, then max single, then batches
    python bench/score_load.py --rate 50 --seconds 30 --port 8765 --reset

Uses a dedicated database `fraud_bench` on 127.0.0.1:5432 (user postgres), Redis db 14 as
the Celery broker (flushed at start and end; no worker consumes the explanation tasks) and
models under var/bench-models. On first use (or with --reset) it migrates and runs
`manage.py demo_setup --live-events 0` (history, a first model, the demo API key).

Then it starts `gunicorn config.wsgi:application --workers 2` and measures:
  A  single events at a fixed open-loop rate (latency percentiles, achieved rate, errors)
  B  single events, closed loop, 4 concurrent clients (max events/s)
  C  batches of 1,000 events, closed loop, 2 concurrent clients (events/s)
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = "fraud_bench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/14"
API_KEY = "ftw_demo_key_for_local_use_only_0000000000"
N_ACCOUNTS = 1500
REQUEST_TIMEOUT = 60.0
BATCH_SIZE = 1000
# Timestamps of new events follow the generated world (2026-09-01 + 45 days) so that
# accounts have recent history in the 30-day window.
EVENT_EPOCH = datetime(2026, 10, 16, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- setup

def bench_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DEBUG", None)  # base settings need DEBUG's default for static storage
    env.update(
        DATABASE_URL=DB_URL,
        REDIS_URL=REDIS_URL,
        MODEL_DIR=str(REPO / "var" / "bench-models"),
        DJANGO_SETTINGS_MODULE="config.settings.base",
        SCORE_THROTTLE_RATE="1000000/min",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def prepare_database(reset: bool) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if exists and reset:
            print(f"dropping database {DB_NAME}")
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = None
        if not exists:
            print(f"creating database {DB_NAME}")
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def flush_redis() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()
    except ImportError:
        subprocess.run(["redis-cli", "-h", HOST, "-n", "14", "flushdb"], check=True, capture_output=True, timeout=30)


def manage(env: dict[str, str], *args: str) -> None:
    cmd = [sys.executable, str(REPO / "manage.py"), *args]
    print("$ manage.py " + " ".join(args), flush=True)
    subprocess.run(cmd, cwd=REPO, env=env, check=True, timeout=1800)


def has_champion() -> bool:
    with psycopg.connect(DB_URL) as conn:
        row = conn.execute("SELECT count(*) FROM scoring_modelversion WHERE status = 'champion'").fetchone()
    return bool(row and row[0])


def stored_events() -> int:
    with psycopg.connect(DB_URL) as conn:
        return int(conn.execute("SELECT count(*) FROM triage_transaction").fetchone()[0])


def account_profiles() -> dict[str, dict]:
    """Latest device, IP, place and currency of each generated account (acct-00000..acct-01499)."""
    sql = """
        SELECT DISTINCT ON (account_id) account_id, device_id, host(ip_address), latitude, longitude,
               country, currency, merchant_id, category, account_created_at
        FROM triage_transaction
        WHERE account_id LIKE 'acct-%%'
        ORDER BY account_id, timestamp DESC
    """
    profiles = {}
    with psycopg.connect(DB_URL) as conn:
        for row in conn.execute(sql):
            acct, device, ip, lat, lon, country, currency, merchant, category, created = row
            profiles[acct] = dict(
                device_id=device or None, ip_address=ip, latitude=lat, longitude=lon, country=country or None,
                currency=currency or "USD", merchant_id=merchant or None, category=category or None,
                account_created_at=created.isoformat() if created else None,
            )
    return profiles


# --------------------------------------------------------------------------- events

class EventFactory:
    """Fresh unique events for random generated accounts; thread-safe."""

    def __init__(self, profiles: dict[str, dict], seed: int = 11) -> None:
        self.profiles = profiles
        self.accounts = [f"acct-{i:05d}" for i in range(N_ACCOUNTS)]
        self.run = uuid.uuid4().hex[:10]
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)

    def make(self) -> dict:
        with self.lock:
            n = next(self.counter)
            r = self.rng.random()
            acct = self.rng.choice(self.accounts)
            amount = round(min(self.rng.lognormvariate(3.8, 1.0), 25_000.0), 2)
            jitter = self.rng.random()
            new_device = self.rng.random() < 0.05
        p = self.profiles.get(acct, {})
        event = {
            "event_id": f"bench-{self.run}-{n}",
            "account_id": acct,
            "timestamp": (EVENT_EPOCH + timedelta(milliseconds=n * 250)).isoformat().replace("+00:00", "Z"),
            "event_type": "payment" if r < 0.8 else "login",
            "currency": p.get("currency") or "USD",
            "device_id": f"dev-bench-{n}" if new_device or not p.get("device_id") else p["device_id"],
            "ip_address": p.get("ip_address") or f"198.51.100.{n % 250 + 1}",
        }
        if event["event_type"] == "payment":
            event["amount"] = amount
            event["payment_status"] = "success" if jitter < 0.93 else ("failed" if jitter < 0.97 else "declined")
            for key in ("merchant_id", "category"):
                if p.get(key):
                    event[key] = p[key]
        if p.get("latitude") is not None and p.get("longitude") is not None:
            event["latitude"] = round(p["latitude"] + (jitter - 0.5) * 0.02, 5)
            event["longitude"] = round(p["longitude"] + (jitter - 0.5) * 0.02, 5)
        else:
            event["latitude"], event["longitude"] = 40.7128, -74.006
        if p.get("country"):
            event["country"] = p["country"]
        if p.get("account_created_at"):
            event["account_created_at"] = p["account_created_at"]
        event["session_duration"] = round(1 + jitter * 20, 2)
        return event


# --------------------------------------------------------------------------- HTTP

class Client:
    """One keep-alive connection per thread (reconnects when the server closes it)."""

    local = threading.local()

    def __init__(self, port: int) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            self.local.conn = conn
        return conn

    def post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request("POST", "/score", body=body, headers=self.headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                return resp.status, data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []  # seconds, successful requests
        self.sched_latencies: list[float] = []  # from the intended send time (open loop)
        self.errors: dict[str, int] = {}
        self.events_ok = 0
        self.models: dict[str, int] = {}

    def ok(self, latency: float, events: int, model: str | None, sched_latency: float | None = None) -> None:
        with self.lock:
            self.latencies.append(latency)
            if sched_latency is not None:
                self.sched_latencies.append(sched_latency)
            self.events_ok += events
            if model:
                self.models[model] = self.models.get(model, 0) + events

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


def send(client: Client, rec: Recorder, payload, n_events: int, scheduled: float | None = None) -> None:
    body = json.dumps(payload).encode()
    began = time.perf_counter()
    try:
        status, data = client.post(body)
    except Exception as exc:  # noqa: BLE001 - every failure is counted, the run continues
        rec.error(type(exc).__name__)
        return
    ended = time.perf_counter()
    if status != 200:
        rec.error(f"HTTP {status}")
        if rec.n_errors <= 3:
            print(f"  ! HTTP {status}: {data[:300]!r}", flush=True)
        return
    model = None
    try:
        answer = json.loads(data)
        first = answer["results"][0] if isinstance(answer, dict) and "results" in answer else answer
        model = first.get("model_version")
    except (ValueError, KeyError, IndexError, AttributeError):
        pass
    rec.ok(ended - began, n_events, model, None if scheduled is None else ended - scheduled)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def ms(x: float) -> str:
    return "-" if x != x else f"{x * 1000:,.1f}"


# --------------------------------------------------------------------------- phases

def phase_open_loop(client: Client, factory: EventFactory, rate: float, seconds: float) -> dict:
    total = max(1, int(rate * seconds))
    interval = 1.0 / rate
    rec = Recorder()
    futures = []
    print(f"phase A: open loop, {rate:g} req/s for {seconds:g} s ({total} single events)", flush=True)
    with ThreadPoolExecutor(max_workers=64, thread_name_prefix="open") as pool:
        start = time.perf_counter()
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, client, rec, factory.make(), 1, scheduled))
        sent_for = time.perf_counter() - start
        wait(futures, timeout=REQUEST_TIMEOUT * 2)
        elapsed = time.perf_counter() - start
    return dict(name=f"A open loop {rate:g}/s", rec=rec, elapsed=elapsed, sent_for=sent_for, requests=total)


def phase_closed_loop(client: Client, factory: EventFactory, clients: int, seconds: float, batch: int, label: str) -> dict:
    rec = Recorder()
    max_requests = 100_000 if batch == 1 else 2_000
    issued = itertools.count()
    deadline = time.perf_counter() + seconds
    print(f"phase {label}: closed loop, {clients} clients, {batch} event(s)/request, {seconds:g} s", flush=True)

    def worker() -> None:
        while time.perf_counter() < deadline and next(issued) < max_requests:
            if batch == 1:
                send(client, rec, factory.make(), 1)
            else:
                send(client, rec, [factory.make() for _ in range(batch)], batch)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"closed-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + REQUEST_TIMEOUT * 2)
    elapsed = time.perf_counter() - start
    name = f"{label} closed {clients}x{batch}"
    return dict(name=name, rec=rec, elapsed=elapsed, requests=len(rec.latencies) + rec.n_errors)


# --------------------------------------------------------------------------- gunicorn

def start_gunicorn(env: dict[str, str], port: int, log) -> subprocess.Popen:
    cmd = [
        str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--workers", "2",
        "--bind", f"{HOST}:{port}", "--timeout", "120", "--log-level", "warning",
    ]
    print("$ gunicorn " + " ".join(cmd[1:]), flush=True)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("gunicorn did not answer /healthz in time")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- report

def summarize(results: list[dict], events_at_start: int, events_at_end: int | None, models: set[str]) -> None:
    print()
    print("=" * 104)
    print(f"POST /score - gunicorn 2 sync workers, PostgreSQL {DB_NAME}, loopback")
    print(f"events stored at start (triage_transaction): {events_at_start:,}")
    if events_at_end is not None:
        print(f"events stored at end:                        {events_at_end:,}")
    print(f"model versions answering: {', '.join(sorted(models)) or '-'}")
    print("-" * 104)
    head = f"{'phase':<22}{'requests':>9}{'errors':>8}{'req/s':>9}{'events/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    print(head)
    for r in results:
        rec: Recorder = r["rec"]
        lat = rec.latencies
        print(
            f"{r['name']:<22}{r['requests']:>9,}{rec.n_errors:>8,}{len(lat) / r['elapsed']:>9,.1f}"
            f"{rec.events_ok / r['elapsed']:>10,.1f}{ms(pct(lat, 50)):>10}{ms(pct(lat, 95)):>10}"
            f"{ms(pct(lat, 99)):>10}{ms(max(lat) if lat else float('nan')):>10}"
        )
    for r in results:
        rec = r["rec"]
        if rec.sched_latencies:
            s = rec.sched_latencies
            print(
                f"  {r['name']}: from intended send time p50 {ms(pct(s, 50))} / p99 {ms(pct(s, 99))} / "
                f"max {ms(max(s))} ms; schedule kept {r['requests'] / r['sent_for']:.1f} req/s"
            )
        if rec.errors:
            print(f"  {r['name']}: errors {rec.errors}")
    print("=" * 104)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="phase A requests per second (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="phase A duration in seconds (default 20)")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn port on 127.0.0.1 (default 8765)")
    parser.add_argument("--reset", action="store_true", help=f"drop and recreate the {DB_NAME} database first")
    parser.add_argument("--phase-seconds", type=float, default=15.0, help="phases B and C duration (default 15)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or not (0 < args.rate * args.seconds <= 200_000):
        parser.error("--rate and --seconds must be positive and rate x seconds at most 200000")

    env = bench_env(args.port)
    prepare_database(args.reset)
    flush_redis()
    manage(env, "migrate", "--no-input", "--verbosity", "0")
    if not has_champion():
        began = time.perf_counter()
        manage(env, "demo_setup", "--live-events", "0")
        print(f"demo_setup took {time.perf_counter() - began:.1f} s", flush=True)
    events_at_start = stored_events()
    profiles = account_profiles()
    print(f"events stored at start: {events_at_start:,}; account profiles: {len(profiles):,}", flush=True)
    factory = EventFactory(profiles)
    client = Client(args.port)

    results: list[dict] = []
    events_at_end = None
    log = tempfile.NamedTemporaryFile(prefix="score_load_gunicorn_", suffix=".log", delete=False)
    proc = start_gunicorn(env, args.port, log)
    try:
        wait_healthy(proc, args.port)
        for _ in range(10):  # warm both workers (model load, connections)
            send(client, Recorder(), factory.make(), 1)
        results.append(phase_open_loop(client, factory, args.rate, args.seconds))
        results.append(phase_closed_loop(client, factory, 4, args.phase_seconds, 1, "B"))
        results.append(phase_closed_loop(client, factory, 2, args.phase_seconds, BATCH_SIZE, "C"))
    finally:
        stop_gunicorn(proc)
        log.close()
        try:
            flush_redis()
        except Exception as exc:  # noqa: BLE001
            print(f"redis flush failed: {exc}")
    try:
        events_at_end = stored_events()
    except psycopg.Error:
        pass
    models = set()
    for r in results:
        models.update(r["rec"].models)
    summarize(results, events_at_start, events_at_end, models)
    text = Path(log.name).read_text(errors="replace").strip()
    if text:
        print(f"gunicorn log ({log.name}), last lines:")
        print("\n".join(text.splitlines()[-15:]))
    else:
        os.unlink(log.name)
    return 1 if any(r["rec"].n_errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
