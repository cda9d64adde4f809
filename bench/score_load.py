"""Benchmark: POST /score under gunicorn against PostgreSQL, over loopback.

    python bench/score_load.py                         # 10 k and 1 M stored events, every phase
    python bench/score_load.py --sizes 10k --seconds 10 --phase-seconds 10
    python bench/score_load.py --workers 4 --threads 1 --reset

For each size it uses its own database (`fraud_bench_10k`, `fraud_bench_1m` on
127.0.0.1:5432, user postgres), filled once with generated history by COPY (about
48 events per account over 60 days, so per-account history is the same at both sizes
and only the table size differs). The 10 k database trains the model; the 1 M database
registers the same bundle. Events added by earlier runs are deleted first, so each run
starts from exactly the stored history. Redis db 14 is the Celery broker (flushed at
start and end; no worker consumes the explanation tasks).

It then starts gunicorn (config/gunicorn.py; --workers/--threads override it) and measures:
  A  single events at a fixed open-loop rate (latency percentiles, achieved rate, errors)
  B  single events, closed loop, 4 concurrent clients (max events/s)
  C  batches of 1,000 events, closed loop, 2 concurrent clients (events/s)
  H  like A, every event on one hub device and IP address that HUB_EVENTS stored events of
     other accounts share in the 30 days before (a shop's terminal, a carrier's address, an
     attacker's tool): its p99 is compared with A's (run right after A, at the same table)
  R  like A, with 100 active rules and 10 lists of 10,000 entries (bench/rules_bench.py's),
     installed after A and removed after R: its p99 and CPU are compared with A's
and the web workers' CPU time per request (from /proc), which depends far less on other
load on the machine than wall-clock latency does. New events go to a pool of 200
accounts, the same size at both table sizes.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import io
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
REDIS_URL = "redis://127.0.0.1:6379/14"
API_KEY = "ftw_demo_key_for_local_use_only_0000000000"
BENCH_CLIENT = "bench-checkout"
HISTORY_CLIENT = "bench-history"
POOL_ACCOUNTS = 200
REQUEST_TIMEOUT = 60.0
BATCH_SIZE = 1000
RULES_RELOAD_WAIT = 7.0  # RULES_REFRESH_SECONDS (5) and a margin
EVENTS_PER_ACCOUNT = 48  # what the generator makes per account over 60 days
WORLD_DAYS = 60
WORLD_START = datetime(2026, 9, 1, tzinfo=timezone.utc)
# New events continue where the stored history ends, 30 s apart, so that accounts have
# recent history in every window.
EVENT_EPOCH = WORLD_START + timedelta(days=WORLD_DAYS)
EVENT_SPACING_MS = 30_000
SIZES = {"10k": 10_000, "1m": 1_000_000}
HUB_DEVICE, HUB_IP, HUB_EVENTS, HUB_ACCOUNTS = "dev-bench-hub", "198.51.100.254", 10_000, 2_000
DB_NAME = "fraud_bench_10k"  # the database the current run talks to (set per size)


def db_url(name: str | None = None) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name or DB_NAME}"


# --------------------------------------------------------------------------- setup

def bench_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["DEBUG"] = "0"  # as in production: no query log, no debug pages
    env.update(
        DATABASE_URL=db_url(),
        REDIS_URL=REDIS_URL,
        MODEL_DIR=str(REPO / "var" / "bench-models"),
        DJANGO_SETTINGS_MODULE="config.settings.base",
        SCORE_THROTTLE_RATE="1000000/min",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def prepare_database(reset: bool) -> bool:
    """Create the database if needed; True when it was (re)created."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if exists and reset:
            print(f"dropping database {DB_NAME}")
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = None
        if not exists:
            print(f"creating database {DB_NAME}")
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
            return True
    return False


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


def _client_id(conn, name: str, kind: str, key: str | None) -> int:
    row = conn.execute("SELECT id FROM accounts_apiclient WHERE name = %s", (name,)).fetchone()
    if row:
        return row[0]
    return conn.execute(
        """INSERT INTO accounts_apiclient (name, kind, contact, webhook_url, webhook_secret, key_prefix, key_hash,
                                           is_active, created_at)
           VALUES (%s, %s, '', '', '', %s, %s, %s, now()) RETURNING id""",
        (name, kind, key[:10] if key else "", hashlib.sha256(key.encode()).hexdigest() if key else None, bool(key)),
    ).fetchone()[0]


_COPY_COLUMNS = (
    "client_id", "event_id", "account_id", "timestamp", "event_type", "amount", "currency", "payment_status",
    "device_id", "ip_address", "latitude", "longitude", "country", "session_duration", "merchant_id", "category",
    "account_created_at", "attributes", "is_fraud", "label_known_at", "label_source", "scenario", "received_at",
)


_NOT_NULL_TEXT = ("event_type", "currency", "payment_status", "device_id", "country", "merchant_id", "category",
                  "label_source", "scenario")
# Empty text fields are empty strings, not NULL (FORCE_NOT_NULL).
_COPY_SQL = (
    f"COPY triage_transaction ({', '.join(_COPY_COLUMNS)}) FROM STDIN "
    f"WITH (FORMAT csv, FORCE_NOT_NULL ({', '.join(_NOT_NULL_TEXT)}))"
)


def fill_history(target: int) -> None:
    """Generate about `target` events and COPY them in as imported, labeled history."""
    sys.path.insert(0, str(REPO))
    from synthetic.generator import WorldConfig, generate_world

    accounts = max(POOL_ACCOUNTS, round(target / EVENTS_PER_ACCOUNT))
    began = time.perf_counter()
    world = generate_world(WorldConfig(accounts=accounts, days=WORLD_DAYS, seed=7, start=WORLD_START))
    print(f"generated {len(world):,} events for {accounts:,} accounts in {time.perf_counter() - began:.1f} s", flush=True)
    with psycopg.connect(db_url()) as conn:
        client_id = _client_id(conn, HISTORY_CLIENT, "import", None)
        frame = world.copy()
        frame["client_id"] = client_id
        frame["amount"] = frame["amount"].round(2)
        frame["ip_address"] = frame["ip_address"].replace("", None)
        frame["attributes"] = "{}"
        frame["label_source"] = "import"
        frame["received_at"] = datetime.now(timezone.utc).isoformat()
        for column in ("timestamp", "account_created_at", "label_known_at"):
            frame[column] = frame[column].map(lambda v: v.isoformat() if v is not None and v == v else None)
        began = time.perf_counter()
        chunk = 100_000
        with conn.cursor() as cur:
            for start in range(0, len(frame), chunk):
                buffer = io.StringIO()
                frame.iloc[start : start + chunk][list(_COPY_COLUMNS)].to_csv(buffer, index=False, header=False)
                with cur.copy(_COPY_SQL) as copy:
                    copy.write(buffer.getvalue())
                print(f"  copied {min(start + chunk, len(frame)):,} / {len(frame):,}", flush=True)
        conn.commit()
        print(f"COPY took {time.perf_counter() - began:.1f} s", flush=True)
    with psycopg.connect(db_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE triage_transaction")


def fill_hub() -> None:
    """HUB_EVENTS events of HUB_ACCOUNTS accounts on one device and IP over the 29 days
    before the benchmark's events, labeled as imported history (replaced on every run)."""
    with psycopg.connect(db_url()) as conn:
        client_id = _client_id(conn, HISTORY_CLIENT, "import", None)
        conn.execute("DELETE FROM triage_transaction WHERE client_id = %s AND event_id LIKE 'hub-%%'", (client_id,))
        span_ms = 29 * 86_400_000
        rows = io.StringIO()
        now = datetime.now(timezone.utc).isoformat()
        for i in range(HUB_EVENTS):
            at = EVENT_EPOCH - timedelta(milliseconds=span_ms - i * span_ms // HUB_EVENTS)
            known = (at + timedelta(days=7)).isoformat()
            rows.write(f"{client_id},hub-{i},hub-acct-{i % HUB_ACCOUNTS},{at.isoformat()},payment,{20 + i % 50}.00,USD,"
                       f"success,{HUB_DEVICE},{HUB_IP},,,US,,m-hub,retail,,{{}},{'t' if i % 97 == 0 else 'f'},"
                       f"{known},import,,{now}\n")
        with conn.cursor() as cur, cur.copy(_COPY_SQL) as copy:
            copy.write(rows.getvalue())
        conn.commit()
    with psycopg.connect(db_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE triage_transaction")


class HubEvents:
    """The factory's events, every one on the hub device and IP."""

    def __init__(self, factory: "EventFactory") -> None:
        self.factory = factory

    def make(self) -> dict:
        return {**self.factory.make(), "device_id": HUB_DEVICE, "ip_address": HUB_IP}


def ensure_model(env: dict[str, str]) -> None:
    """The 10 k database trains the model; the others register the same bundle."""
    sys.path.insert(0, str(REPO))
    from ml.bundle import FORMAT_VERSION

    with psycopg.connect(db_url()) as conn:
        for pk, bundle_path in conn.execute("SELECT id, bundle_path FROM scoring_modelversion WHERE status = 'champion'"):
            manifest = Path(bundle_path) / "manifest.json"
            written = json.loads(manifest.read_text()).get("format_version") if manifest.exists() else None
            if written != FORMAT_VERSION:  # a bundle this code cannot load: train a new one
                conn.execute("UPDATE scoring_modelversion SET status = 'retired' WHERE id = %s", (pk,))
        conn.commit()
        if conn.execute("SELECT count(*) FROM scoring_modelversion WHERE status = 'champion'").fetchone()[0]:
            return
    source = db_url("fraud_bench_10k")
    if DB_NAME == "fraud_bench_10k":
        # ~165 events a day: a capacity of 3 reviews a day keeps the high tier as rare as in production.
        manage({**env, "REVIEWER_CAPACITY_PER_DAY": "3"}, "train", "--verbosity", "0")
        return
    with psycopg.connect(source) as src, psycopg.connect(db_url()) as dst:
        row = src.execute(
            """SELECT name, algorithm, bundle_path, manifest::text, metrics::text, thresholds::text
               FROM scoring_modelversion WHERE status = 'champion'"""
        ).fetchone()
        if row is None:
            raise SystemExit("prepare the 10k database first (it trains the model the others use)")
        dst.execute(
            """INSERT INTO scoring_modelversion (name, algorithm, bundle_path, manifest, metrics, thresholds, status,
                                                  note, created_at, promoted_at)
               VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, 'champion', 'copied by the benchmark', now(), now())""",
            row,
        )


def reset_bench_events() -> int:
    """Delete what earlier runs scored, so each run starts from the stored history only."""
    with psycopg.connect(db_url()) as conn:
        client_id = _client_id(conn, BENCH_CLIENT, "api", API_KEY)
        conn.execute(
            "DELETE FROM triage_score WHERE transaction_id IN (SELECT id FROM triage_transaction WHERE client_id = %s)",
            (client_id,),
        )
        deleted = conn.execute("DELETE FROM triage_transaction WHERE client_id = %s", (client_id,)).rowcount
        conn.commit()
    with psycopg.connect(db_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE triage_transaction")
        conn.execute("VACUUM ANALYZE triage_score")
    return deleted


def stored_events() -> int:
    with psycopg.connect(db_url()) as conn:
        return int(conn.execute("SELECT count(*) FROM triage_transaction").fetchone()[0])


def account_profiles() -> dict[str, dict]:
    """Latest device, IP, place and currency of the first POOL_ACCOUNTS generated accounts."""
    sql = """
        SELECT DISTINCT ON (account_id) account_id, device_id, host(ip_address), latitude, longitude,
               country, currency, merchant_id, category, account_created_at
        FROM triage_transaction
        WHERE account_id = ANY(%s)
        ORDER BY account_id, timestamp DESC
    """
    with psycopg.connect(db_url()) as conn:
        accounts = [r[0] for r in conn.execute(
            "SELECT DISTINCT account_id FROM triage_transaction WHERE account_id LIKE 'acct-%%' ORDER BY 1 LIMIT %s",
            (POOL_ACCOUNTS,),
        )]
        profiles = {}
        for row in conn.execute(sql, (accounts,)):
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
        self.accounts = sorted(profiles)
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
            "timestamp": (EVENT_EPOCH + timedelta(milliseconds=n * EVENT_SPACING_MS)).isoformat().replace("+00:00", "Z"),
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

def phase_open_loop(client: Client, factory: EventFactory, rate: float, seconds: float, label: str = "A") -> dict:
    total = max(1, int(rate * seconds))
    interval = 1.0 / rate
    rec = Recorder()
    futures = []
    print(f"phase {label}: open loop, {rate:g} req/s for {seconds:g} s ({total} single events)", flush=True)
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
    name = f"{label} open loop {rate:g}/s" + (" hub" if label == "H" else "")
    return dict(name=name, rec=rec, elapsed=elapsed, sent_for=sent_for, requests=total)


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

def start_gunicorn(env: dict[str, str], port: int, log, workers: int | None, threads: int | None) -> subprocess.Popen:
    cmd = [
        str(VENV_BIN / "gunicorn"), "config.wsgi:application", "-c", str(REPO / "config" / "gunicorn.py"),
        "--bind", f"{HOST}:{port}", "--timeout", "120", "--log-level", "warning",
    ]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
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


# --------------------------------------------------------------------------- server CPU

_TICKS = os.sysconf("SC_CLK_TCK")


def worker_cpu_seconds(master_pid: int) -> float:
    """User + system CPU of gunicorn's worker processes so far (exited workers not counted)."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def measured(proc: subprocess.Popen, phase, *args) -> dict:
    before = worker_cpu_seconds(proc.pid)
    result = phase(*args)
    result["cpu"] = worker_cpu_seconds(proc.pid) - before
    return result


# --------------------------------------------------------------------------- report

def summarize(size: str, workers: str, results: list[dict], events_at_start: int, events_at_end: int | None,
              models: set[str]) -> None:
    print()
    print("=" * 116)
    print(f"POST /score - gunicorn ({workers}), PostgreSQL {DB_NAME}, loopback - {size} stored")
    print(f"events stored at start (triage_transaction): {events_at_start:,}")
    if events_at_end is not None:
        print(f"events stored at end:                        {events_at_end:,}")
    print(f"model versions answering: {', '.join(sorted(models)) or '-'}")
    print("-" * 116)
    head = (f"{'phase':<22}{'requests':>9}{'errors':>8}{'req/s':>9}{'events/s':>10}{'p50 ms':>10}{'p95 ms':>10}"
            f"{'p99 ms':>10}{'max ms':>10}{'cpu ms/req':>12}")
    print(head)
    for r in results:
        rec: Recorder = r["rec"]
        lat = rec.latencies
        requests = max(1, len(lat) + rec.n_errors)
        print(
            f"{r['name']:<22}{r['requests']:>9,}{rec.n_errors:>8,}{len(lat) / r['elapsed']:>9,.1f}"
            f"{rec.events_ok / r['elapsed']:>10,.1f}{ms(pct(lat, 50)):>10}{ms(pct(lat, 95)):>10}"
            f"{ms(pct(lat, 99)):>10}{ms(max(lat) if lat else float('nan')):>10}{r['cpu'] / requests * 1000:>12,.1f}"
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
    print("=" * 116)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def warm(client: "Client", factory: "EventFactory") -> None:
    """Requests from many connections at once, so every worker gets some."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        wait([pool.submit(lambda: [send(client, Recorder(), factory.make(), 1) for _ in range(5)]) for _ in range(16)])


def run_size(size: str, args) -> int:
    global DB_NAME
    DB_NAME = f"fraud_bench_{size}"
    env = bench_env(args.port)
    created = prepare_database(args.reset)
    manage(env, "migrate", "--no-input", "--verbosity", "0")
    if created or stored_events() < SIZES[size] * 0.5:
        fill_history(SIZES[size])
    ensure_model(env)
    if not args.no_hub:
        fill_hub()
    deleted = reset_bench_events()
    if deleted:
        print(f"deleted {deleted:,} events left by an earlier run", flush=True)
    flush_redis()
    events_at_start = stored_events()
    profiles = account_profiles()
    print(f"{DB_NAME}: {events_at_start:,} events stored; {len(profiles)} accounts in the pool", flush=True)
    factory = EventFactory(profiles)
    client = Client(args.port)

    results: list[dict] = []
    log = tempfile.NamedTemporaryFile(prefix="score_load_gunicorn_", suffix=".log", delete=False)
    proc = start_gunicorn(env, args.port, log, args.workers, args.threads)
    try:
        wait_healthy(proc, args.port)
        # Warm every worker (model load, database connection, prepared statements), as a
        # readiness check would before traffic: sequential requests on one keep-alive
        # connection all reach one worker, so warm from many connections at once.
        warm(client, factory)
        print(f"load average before phase A: {load_average()}", flush=True)
        results.append(measured(proc, phase_open_loop, client, factory, args.rate, args.seconds))
        if not args.no_hub:
            results.append(measured(proc, phase_open_loop, client, HubEvents(factory), args.rate, args.seconds, "H"))
        if not args.no_rules:
            manage(env, "shell", "-c", "from bench.rules_bench import install_bench_rules; install_bench_rules()")
            # Every worker sees the change within RULES_REFRESH_SECONDS on a request and loads
            # the new rules in the background: warm them all, then let the loads finish.
            time.sleep(RULES_RELOAD_WAIT)
            warm(client, factory)
            time.sleep(3)
            try:
                results.append(measured(proc, phase_open_loop, client, factory, args.rate, args.seconds, "R"))
            finally:
                manage(env, "shell", "-c", "from bench.rules_bench import remove_bench_rules; remove_bench_rules()")
                time.sleep(RULES_RELOAD_WAIT)
        results.append(measured(proc, phase_closed_loop, client, factory, 4, args.phase_seconds, 1, "B"))
        results.append(measured(proc, phase_closed_loop, client, factory, 2, args.phase_seconds, BATCH_SIZE, "C"))
        print(f"load average after phase C: {load_average()}", flush=True)
    finally:
        stop_gunicorn(proc)
        log.close()
        try:
            flush_redis()
        except Exception as exc:  # noqa: BLE001
            print(f"redis flush failed: {exc}")
    events_at_end = None
    try:
        events_at_end = stored_events()
    except psycopg.Error:
        pass
    models = set()
    for r in results:
        models.update(r["rec"].models)
    workers = f"workers {args.workers or 'config'}, threads {args.threads or 'config'}"
    summarize(size, workers, results, events_at_start, events_at_end, models)
    by_label = {r["name"][0]: r["rec"].latencies for r in results}
    if "R" in by_label and by_label["A"] and by_label["R"]:
        cpu = {r["name"][0]: r["cpu"] / max(1, len(r["rec"].latencies) + r["rec"].n_errors) * 1000 for r in results}
        print(f"100 rules and 10 lists: p99 {ms(pct(by_label['R'], 99))} ms vs {ms(pct(by_label['A'], 99))} ms without = "
              f"{pct(by_label['R'], 99) / pct(by_label['A'], 99):.2f}x (target <= 1.1x); "
              f"CPU {cpu['R']:.1f} vs {cpu['A']:.1f} ms a request")
    if "H" in by_label and by_label["A"] and by_label["H"]:
        ratio = pct(by_label["H"], 99) / pct(by_label["A"], 99)
        print(f"hub device and IP ({HUB_EVENTS:,} stored events of {HUB_ACCOUNTS:,} accounts): "
              f"p99 {ms(pct(by_label['H'], 99))} ms vs {ms(pct(by_label['A'], 99))} ms without = {ratio:.2f}x (target <= 2x)")
    text = Path(log.name).read_text(errors="replace").strip()
    if text:
        print(f"gunicorn log ({log.name}), last lines:")
        print("\n".join(text.splitlines()[-15:]))
    else:
        os.unlink(log.name)
    return 1 if any(r["rec"].n_errors for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,1m", help="stored-history sizes to run: 10k, 1m (default both)")
    parser.add_argument("--rate", type=float, default=100.0, help="phase A requests per second (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="phase A duration in seconds (default 20)")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn port on 127.0.0.1 (default 8765)")
    parser.add_argument("--reset", action="store_true", help="drop and refill the benchmark databases first")
    parser.add_argument("--phase-seconds", type=float, default=15.0, help="phases B and C duration (default 15)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: config/gunicorn.py)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: config/gunicorn.py)")
    parser.add_argument("--no-hub", action="store_true", help="skip phase H (the hub device and IP)")
    parser.add_argument("--no-rules", action="store_true", help="skip phase R (100 rules and 10 lists)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or not (0 < args.rate * args.seconds <= 200_000):
        parser.error("--rate and --seconds must be positive and rate x seconds at most 200000")
    sizes = [x.strip().lower() for x in args.sizes.split(",") if x.strip()]
    unknown = [x for x in sizes if x not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    if "10k" not in sizes:  # the 10 k database holds the model the others use
        global DB_NAME
        DB_NAME = "fraud_bench_10k"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            ready = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'fraud_bench_10k'").fetchone()
        if not ready:
            sizes.insert(0, "10k")
    print(f"{os.cpu_count()} cores; load average {load_average()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    return max(run_size(size, args) for size in sizes)


if __name__ == "__main__":
    raise SystemExit(main())
