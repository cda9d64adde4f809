"""Benchmark: the managers' dashboard APIs over millions of stored events.

    python bench/insights_bench.py                          # 5 M events, 100 k accounts, 90 days
    python bench/insights_bench.py --events 1000000 --requests 30
    python bench/insights_bench.py --reuse                  # time the APIs on data already loaded

Fills a dedicated PostgreSQL database (default `fraud_bench_insights`, created if missing,
its tables emptied first) with synthetic events and scores straight from SQL
(generate_series, no Python per row), rebuilds the hourly rollups and the account risk
table, then times each API in process (Django test client, the full DRF stack, no network)
for several periods and time zones. Prints p50 / p95 / max per API, how long the loading,
rebuild and an incremental refresh took. Target (docs/benchmarks.md): trend and account
APIs ≤ 150 ms p95 at 5 M events.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 250_000

EVENTS_SQL = """
INSERT INTO triage_transaction (client_id, event_id, account_id, "timestamp", event_type, amount, currency,
    payment_status, device_id, ip_address, country, merchant_id, category, attributes, is_fraud, label_known_at,
    label_source, scenario, received_at)
SELECT %(client)s, 'b' || g, 'acct-' || lpad(a::text, 7, '0'),
       %(start)s::timestamptz + (g::float8 / %(events)s) * %(days)s * interval '1 day' + (random() * interval '10 minutes'),
       (ARRAY['payment','payment','purchase','login','signup'])[1 + floor(r1 * 5)::int],
       CASE WHEN r1 < 0.6 THEN round((random() * 400)::numeric, 2) END, 'USD',
       CASE WHEN r2 < 0.04 THEN 'failed' WHEN r1 < 0.6 THEN 'success' ELSE '' END,
       CASE WHEN r2 > 0.995 THEN 'shared-' || floor(random() * 3000)::int ELSE 'dev-' || a || '-' || floor(r2 * 2)::int END,
       ('10.' || (a / 65536) || '.' || ((a / 256) %% 256) || '.' || (a %% 256))::inet, 'DE', 'm-' || (a %% 500), 'retail', '{}',
       CASE WHEN r3 < 0.8 THEN fraud END, CASE WHEN r3 < 0.8 THEN now() END, CASE WHEN r3 < 0.8 THEN 'import' ELSE '' END, '', now()
FROM (
    SELECT g, floor(random() * %(accounts)s)::int AS a, random() AS r1, random() AS r2, random() AS r3,
           random() < 0.02 AS fraud
    FROM generate_series(%(lo)s, %(hi)s) AS g
) s
"""

SCORES_SQL = """
INSERT INTO triage_score (transaction_id, probability, risk_score, tier, expected_loss, model_version_name, features,
    explanation_status, scored_at, review_status, decided_at)
SELECT id, score / 100.0, score, tier, round((score / 100.0 * coalesce(amount, 50))::numeric, 2), 'bench', '{}', 'ready',
       "timestamp",
       CASE WHEN tier <> 'low' AND review < 0.5 THEN CASE WHEN is_fraud THEN 'flagged' ELSE 'cleared' END ELSE 'open' END,
       CASE WHEN tier <> 'low' AND review < 0.5 THEN "timestamp" + interval '2 hours' END
FROM (
    SELECT t.id, t.amount, t."timestamp", t.is_fraud, random() AS review, s.score,
           CASE WHEN s.score >= 80 THEN 'high' WHEN s.score >= 50 THEN 'medium' ELSE 'low' END AS tier
    FROM triage_transaction t
    CROSS JOIN LATERAL (
        SELECT least(100, greatest(0, CASE WHEN t.is_fraud THEN 55 + random() * 45 ELSE power(random(), 3) * 85 END))::int AS score
    ) s
    WHERE t.id > %(after)s
) x
"""


def setup_django(database: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["DEBUG"] = "0"  # no query log growing in memory
    os.environ.pop("REDIS_URL", None)
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load(events: int, accounts: int, days: int) -> None:
    from django.db import connection
    from tqdm import tqdm

    from accounts.services import api_client_create

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE triage_decision, triage_score, triage_transaction, insights_hourlyrollup, insights_dirtyhour, "
            "insights_accountrisk, triage_auditentry CASCADE"
        )
        cursor.execute("SELECT setseed(0.42)")
    client, _ = api_client_create(name=f"bench-{time.time_ns()}", contact="bench@example.com")
    # Bulk-load practice: drop the secondary indexes, load, build them again (same definitions).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('triage_transaction', 'triage_score') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    with tqdm(total=events, desc="loading events + scores", unit="ev", unit_scale=True) as bar:
        for lo in range(1, events + 1, CHUNK):
            hi = min(events, lo + CHUNK - 1)
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(max(id), 0) FROM triage_transaction")
                after = cursor.fetchone()[0]
                params = {"client": client.pk, "start": "2026-08-01T00:00:00Z", "events": events, "days": days,
                          "accounts": accounts, "lo": lo, "hi": hi}
                cursor.execute(EVENTS_SQL, params)
                cursor.execute(SCORES_SQL, {"after": after})
            bar.update(hi - lo + 1)
    with connection.cursor() as cursor:
        for _, definition in tqdm(indexes, desc="rebuilding indexes", unit="index"):
            cursor.execute(definition)
        cursor.execute("ANALYZE")


def timed(label: str, fn):
    began = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - began
    print(f"{label:<40}{seconds:>9.1f} s")
    return result


def time_apis(requests: int) -> dict[str, list[float]]:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get_or_create(name="manager")[0])
    client = Client()
    client.force_login(user)
    variants = [
        {"period": p, "tz": tz} for p in ("7d", "30d", "90d") for tz in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
    ]
    endpoints = {
        "trends": "/api/insights/trends", "heatmap": "/api/insights/heatmap", "roi": "/api/insights/roi",
        "model-health": "/api/insights/model-health", "team": "/api/insights/team",
        "accounts/segments": "/api/insights/accounts/segments", "offboarding": "/api/insights/offboarding",
    }
    results: dict[str, list[float]] = {}
    for name, url in endpoints.items():
        timings = []
        for i in range(requests + 3):
            params = variants[i % len(variants)] if "accounts" not in url and "offboarding" not in url else {"offset": (i % 5) * 20, "limit": 50}
            began = time.perf_counter()
            response = client.get(url, params)
            elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            if i >= 3:  # warm-up: first queries plan and fill caches
                timings.append(elapsed)
        results[name] = timings
    return results


def incremental_refresh(events: int) -> None:
    """Score 1,000 new events into the latest hour, then time the refresh that picks them up."""
    from django.db import connection

    from insights.rollups import rollups_refresh

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0), max(client_id) FROM triage_transaction")
        after, client = cursor.fetchone()
        cursor.execute(
            EVENTS_SQL,
            {"client": client, "start": "2026-08-01T00:00:00Z", "events": events, "days": 0.0001, "accounts": 1000,
             "lo": events + 10_000_001, "hi": events + 10_001_000},
        )
        cursor.execute(SCORES_SQL, {"after": after})
    began = time.perf_counter()
    hours = rollups_refresh()
    print(f"{'incremental refresh (1,000 new events)':<40}{time.perf_counter() - began:>9.2f} s for {hours} dirty hour(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per API (after 3 warm-up)")
    parser.add_argument("--database", default="fraud_bench_insights")
    parser.add_argument("--reuse", action="store_true", help="keep the loaded data; only time the APIs")
    args = parser.parse_args(argv)

    setup_django(args.database)
    from insights.accounts import account_risk_refresh
    from insights.models import AccountRisk, HourlyRollup
    from insights.rollups import rollups_rebuild
    from triage.models import Transaction

    if not args.reuse:
        timed(f"load {args.events:,} events + scores", lambda: load(args.events, args.accounts, args.days))
        timed("rebuild hourly rollups", rollups_rebuild)
        timed("profile + segment accounts", account_risk_refresh)
    else:
        from insights.accounts import segment_summary_store

        timed("segment summary", segment_summary_store)
    stored = Transaction.objects.count()
    print(f"stored events      {stored:,}")
    print(f"rollup rows        {HourlyRollup.objects.count():,}")
    print(f"accounts profiled  {AccountRisk.objects.count():,}")
    results = time_apis(args.requests)
    print(f"\n{'API':<22}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, timings in results.items():
        ordered = sorted(timings)
        p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
        print(f"{name:<22}{len(ordered):>5}{statistics.median(ordered):>10.1f}{p95:>10.1f}{ordered[-1]:>10.1f}")
    incremental_refresh(stored)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
