"""Benchmark: reviewer queue and case APIs with millions of stored events.

    python bench/queue_bench.py                       # 5 M events into database fraud_bench_queue
    python bench/queue_bench.py --events 1000000 --requests 50
    python bench/queue_bench.py --reuse               # measure again without regenerating

Creates (or reuses) a dedicated PostgreSQL database, migrates it, fills it with synthetic
events and scores straight in SQL (generate_series; ~180 days, 250 k accounts, high and
medium cases older than a week already decided, every low-tier case open), then times the
reviewer APIs in process through Django's full request stack (session auth, DRF, ORM):
the queue per tier and with each filter, polling with `since`, "Next case", and the case,
history and network APIs. Prints p50 / p95 / max per call. Target (docs/benchmarks.md):
queue API p95 <= 150 ms with 5 M stored events, one row per alert and one per account.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 250_000
ACCOUNTS = 250_000
DAYS = 180


def _database_url(base: str, name: str) -> str:
    parsed = urlparse(base)
    return urlunparse(parsed._replace(path=f"/{name}"))


def _ensure_database(base_url: str, name: str, fresh: bool) -> None:
    import psycopg

    with psycopg.connect(_database_url(base_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def use_database(parser: argparse.ArgumentParser, name: str, *, fresh: bool) -> None:
    """Point Django at a dedicated benchmark database on the server of DATABASE_URL (created,
    or dropped and created when `fresh`) and set Django up."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        parser.error("DATABASE_URL must point at PostgreSQL")
    _ensure_database(base, name, fresh=fresh)
    os.environ["DATABASE_URL"] = _database_url(base, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


def _generate(events: int) -> None:
    """Fill transactions and scores in SQL, chunk by chunk, then vacuum and analyze."""
    from django.db import connection
    from tqdm import tqdm

    from accounts.models import ApiClient

    client, _ = ApiClient.objects.get_or_create(name="bench-checkout", defaults={"key_hash": "bench" + "0" * 59})
    with connection.cursor() as cur:
        # Bulk loading is much faster without secondary indexes and per-row foreign-key
        # triggers: drop the plain indexes now and rebuild them once the rows are in.
        cur.execute(
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE tablename IN ('triage_transaction', 'triage_score')
                 AND indexname NOT IN (SELECT conname FROM pg_constraint)"""
        )
        indexes = cur.fetchall()
        for name, _definition in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET session_replication_role = replica")
    with connection.cursor() as cur, tqdm(total=events, desc="generating events", unit="events") as bar:
        cur.execute("SELECT setseed(0.42)")
        for start in range(1, events + 1, CHUNK):
            stop = min(start + CHUNK - 1, events)
            cur.execute("SELECT COALESCE(max(id), 0) FROM triage_transaction")
            last_id = cur.fetchone()[0]
            cur.execute(
                """
                INSERT INTO triage_transaction (
                    client_id, event_id, account_id, timestamp, event_type, amount, currency, payment_status,
                    device_id, ip_address, latitude, longitude, country, session_duration, merchant_id, category,
                    account_created_at, attributes, is_fraud, label_known_at, label_source, scenario, received_at)
                SELECT %(client)s, 'bench-' || g, 'acct-' || (g %% %(accounts)s),
                       now() - make_interval(days => %(days)s) + (g::float / %(events)s) * make_interval(days => %(days)s),
                       (ARRAY['payment','purchase','login','signup'])[1 + g %% 4],
                       CASE WHEN g %% 4 >= 2 THEN NULL ELSE round(exp(random() * 7)::numeric, 2) END, 'USD',
                       CASE WHEN random() < 0.05 THEN 'failed' ELSE 'success' END,
                       'dev-' || CASE WHEN random() < 0.05 THEN (random() * 2000)::int ELSE g %% %(accounts)s END,
                       ('10.' || ((g %% %(accounts)s) / 65536) || '.' || (((g %% %(accounts)s) / 256) %% 256)
                        || '.' || ((g %% %(accounts)s) %% 256))::inet,
                       40 + random() * 10, random() * 20, 'DE', NULL, 'm-' || (random() * 5000)::int, 'retail',
                       NULL, '{}'::jsonb, NULL, NULL, '', '', now()
                FROM generate_series(%(start)s, %(stop)s) AS g
                """,
                {"client": client.pk, "accounts": ACCOUNTS, "days": DAYS, "events": events, "start": start, "stop": stop},
            )
            cur.execute(
                """
                INSERT INTO triage_score (
                    transaction_id, probability, risk_score, tier, expected_loss, model_version_id,
                    model_version_name, features, explanation, explanation_status, explained_at, scored_at,
                    review_status, claimed_by_id, claim_expires_at, decided_at)
                SELECT id, p, LEAST(100, floor(p * 100))::int,
                       CASE WHEN p >= 0.8 THEN 'high' WHEN p >= 0.3 THEN 'medium' ELSE 'low' END,
                       round((p * COALESCE(amount, 50))::numeric, 2), NULL, 'bench-v1', '{}'::jsonb, NULL,
                       'pending', NULL, timestamp,
                       CASE WHEN p >= 0.3 AND timestamp < now() - interval '7 days'
                            THEN (CASE WHEN random() < 0.1 THEN 'flagged' ELSE 'cleared' END) ELSE 'open' END,
                       NULL, NULL, NULL
                FROM (SELECT id, amount, timestamp, power(random(), 40) AS p FROM triage_transaction
                      WHERE id > %(last_id)s) AS t
                """,
                {"last_id": last_id},
            )
            bar.update(stop - start + 1)
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = origin")
        cur.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in tqdm(indexes, desc="building indexes", unit="index"):
            cur.execute(definition)
        print("vacuum analyze …", flush=True)
        cur.execute("VACUUM ANALYZE triage_transaction")
        cur.execute("VACUUM ANALYZE triage_score")


def _stored_events() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM triage_score")
        return cur.fetchone()[0]


class _SqlTimer:
    """Adds up the time spent waiting on PostgreSQL, to tell database time from Python time."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - began) * 1000
            self.queries += 1


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(q * len(ordered))) - 1)]


def _time_calls(name: str, call, requests: int) -> dict:
    from django.db import connection

    for _ in range(3):  # warm the caches the way a working reviewer does
        call()
    samples, sql_samples, queries = [], [], 0
    for _ in range(requests):
        timer = _SqlTimer()
        with connection.execute_wrapper(timer):
            began = time.perf_counter()
            response = call()
            samples.append((time.perf_counter() - began) * 1000)
        sql_samples.append(timer.ms)
        queries = timer.queries
        assert response.status_code in (200, 201), (name, response.status_code, response.content[:300])
    return {
        "name": name,
        "p50": statistics.median(samples),
        "p95": _percentile(samples, 0.95),
        "max": max(samples),
        "sql_p50": statistics.median(sql_samples),
        "queries": queries,
    }


def _measure(requests: int) -> list[dict]:
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.utils import timezone

    from triage.models import Score

    user, _ = User.objects.get_or_create(username="bench-reviewer")
    user.groups.add(Group.objects.get_or_create(name="reviewer")[0])
    client = Client()
    client.force_login(user)
    rng = random.Random(7)
    today = timezone.now().date()
    open_high = list(Score.objects.filter(review_status="open", tier="high").order_by("-expected_loss").values_list("pk", flat=True)[:200])
    accounts = [f"acct-{rng.randrange(ACCOUNTS)}" for _ in range(50)]
    event_ids = [f"bench-{rng.randrange(1, 1000)}" for _ in range(50)]

    def queue(**params):
        return lambda: client.get("/api/queue", params)

    cases = [
        ("queue high", queue(tier="high")),
        ("queue medium", queue(tier="medium")),
        ("queue low (millions open)", queue(tier="low")),
        ("queue high, last 7 days", queue(tier="high", date_from=str(today - timedelta(days=7)), date_to=str(today))),
        ("queue low, amount 500–1000", queue(tier="low", amount_min="500", amount_max="1000")),
        ("queue low, event type purchase", queue(tier="low", event_type="purchase")),
        ("queue high, per account", queue(tier="high", view="accounts")),
        ("queue medium, per account", queue(tier="medium", view="accounts")),
        ("queue low, per account", queue(tier="low", view="accounts")),
        ("queue low, per account, page 5", queue(tier="low", view="accounts", offset="200")),
        ("queue low, amount, per account", queue(tier="low", view="accounts", amount_min="500", amount_max="1000")),
        ("queue, one account", lambda: client.get("/api/queue", {"tier": "low", "account": rng.choice(accounts)})),
        ("queue, search event id", lambda: client.get("/api/queue", {"tier": "low", "q": rng.choice(event_ids)})),
        ("queue poll (since)", lambda: client.get("/api/queue", {"tier": "high", "since": (timezone.now() - timedelta(seconds=5)).isoformat()})),
        ("next case (claim)", lambda: client.post("/api/queue/next?tier=high")),
        ("case", lambda: client.get(f"/api/cases/{rng.choice(open_high)}")),
        ("case history", lambda: client.get(f"/api/cases/{rng.choice(open_high)}/history")),
        ("case network", lambda: client.get(f"/api/cases/{rng.choice(open_high)}/network")),
    ]
    return [_time_calls(name, call, requests) for name, call in cases]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000_000, help="stored events to generate (default 5,000,000)")
    parser.add_argument("--db", default="fraud_bench_queue", help="dedicated database (default fraud_bench_queue)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per call (default 100)")
    parser.add_argument("--reuse", action="store_true", help="keep the existing data, only measure")
    args = parser.parse_args(argv)

    use_database(parser, args.db, fresh=not args.reuse)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not args.reuse:
        began = time.perf_counter()
        _generate(args.events)
        print(f"generated {args.events:,} events and scores in {time.perf_counter() - began:.0f} s")
    stored = _stored_events()
    print(f"stored events: ≈{stored:,}; timing {args.requests} requests per call (in process, full Django stack)")
    print(f"{'call':<34}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'SQL p50':>9}{'queries':>9}")
    for row in _measure(args.requests):
        print(f"{row['name']:<34}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['max']:>9.1f}{row['sql_p50']:>9.1f}{row['queries']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
