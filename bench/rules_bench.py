"""Benchmark: what rules and lists cost a score, and a rule backtest over a million stored events.

    python bench/rules_bench.py                    # 1 M events into database fraud_bench_rules
    python bench/rules_bench.py --events 200000
    python bench/rules_bench.py --reuse            # measure again without regenerating

1. In process, no database: the time `rules.engine.Rulebook.decide` adds to one /score
   (an event with its features and the model's score) with 100 active rules and 10 lists
   of 10,000 entries each (two of them CIDR ranges), against an empty rule book; and
   `decide_many` for a batch of 1,000 events (the vectorised path).
2. A backtest of 10 rules (fields, features, lists, the model's score) over the stored
   events of the whole period, through `rules.backtest` as the page runs it: read and total
   seconds. Events and scores are generated in SQL (bench/queue_bench.py's generator),
   with a label on a third of them and a feature in every score.
Target (docs/benchmarks.md): 100 rules and 10 lists add <= 1 ms to a /score; a backtest on
1 M stored events <= 10 s.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_bench import _generate, use_database  # noqa: E402

LISTS = 10
ENTRIES_PER_LIST = 10_000
RULES = 100


def _rules() -> list[dict]:
    """100 rules of the shapes analysts write; few of them hit an ordinary event."""
    shapes = [
        "amount > {n}0 and country in [\"NG\", \"RU\", \"KP\"]",
        "events_1h > {n} and amount_to_mean_30d > 3",
        "device_id in list \"devices-{k}\" and amount > 100",
        "ip_address in list \"ranges-{j}\"",
        "probability > 0.{n:02d} and risk_score >= 80 and merchant_is_new == 1",
        "account_age_days < 1 and amount between {n} and 5000",
        "attributes[\"browser\"] == \"headless\" or distinct_devices_30d > {n}",
        "merchant_id in list \"merchants-{k}\" and not (country == \"DE\")",
        "km_from_prev_event / (hours_since_prev_event + 0.01) > 900 and amount > {n}",
        "failed_payments_24h >= 3 and payment_status == \"success\"",
    ]
    out = []
    for i in range(RULES):
        source = shapes[i % len(shapes)].format(n=10 + i, k=i % 4, j=i % 2)
        out.append({"name": f"rule-{i:03d}", "condition": source, "action": ["reason", "review", "block", "tier_medium"][i % 4],
                    "reason": f"rule {i}", "priority": i, "clients": []})
    return out


def _lists():
    from rules.engine import build_list

    lists = {}
    for k in range(4):
        lists[f"devices-{k}"] = build_list(f"devices-{k}", "device", "reference", "",
                                           [(f"bad-dev-{k}-{i}", math.inf, "") for i in range(ENTRIES_PER_LIST)])
        lists[f"merchants-{k}"] = build_list(f"merchants-{k}", "merchant", "block" if k == 0 else "reference", "",
                                             [(f"bad-m-{k}-{i}", math.inf, "") for i in range(ENTRIES_PER_LIST)])
    for j in range(2):
        lists[f"ranges-{j}"] = build_list(f"ranges-{j}", "ip", "watch" if j == 0 else "reference", "",
                                          [(f"{100 + j}.{i // 256 % 256}.{i % 256}.0/24", math.inf, "")
                                           for i in range(ENTRIES_PER_LIST)])
    return lists


def _event(rng: random.Random) -> tuple[dict, dict]:
    from ml.features import FEATURE_NAMES

    event = {"event_id": "e", "account_id": f"acct-{rng.randrange(10_000)}", "amount": round(rng.expovariate(1 / 80), 2),
             "country": rng.choice(["DE", "FR", "NG", "GB"]), "device_id": f"dev-{rng.randrange(10_000)}",
             "ip_address": f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
             "merchant_id": f"m-{rng.randrange(5000)}", "payment_status": "success", "attributes": {"browser": "chrome"}}
    features = {name: rng.random() * 5 for name in FEATURE_NAMES}
    return event, features


def _time_decide(book, events, repeats: int) -> list[float]:
    samples = []
    for i in range(repeats):
        event, features = events[i % len(events)]
        began = time.perf_counter()
        book.decide(client_id=1, event=event, features=features, probability=0.03, risk_score=20, tier="low")
        samples.append((time.perf_counter() - began) * 1e6)
    return samples


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure_decide(repeats: int) -> None:
    from rules.engine import Rulebook, compile_set
    from rules.language import Vocabulary

    rng = random.Random(7)
    lists = _lists()
    vocabulary = Vocabulary.default(lists=lists)
    compile_began = time.perf_counter()
    full = Rulebook(lists=lists, active=compile_set(1, _rules(), vocabulary), shadow=None)
    compile_ms = (time.perf_counter() - compile_began) * 1000
    empty = Rulebook(lists={}, active=None, shadow=None)
    events = [_event(rng) for _ in range(2000)]
    _time_decide(full, events, 500)  # warm
    base = _time_decide(empty, events, repeats)
    with_rules = _time_decide(full, events, repeats)
    hits = sum(bool(full.decide(client_id=1, event=e, features=f, probability=0.03, risk_score=20, tier="low")[0].hits)
               for e, f in events)
    print(f"compile {RULES} rules + {LISTS} lists of {ENTRIES_PER_LIST:,} entries: {compile_ms:,.0f} ms (once per change)")
    print(f"{'one event':<38}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
    print(f"{'empty rule book':<38}{_pct(base, 50):>10.1f}{_pct(base, 99):>10.1f}{statistics.fmean(base):>10.1f}")
    print(f"{f'{RULES} rules, {LISTS} lists':<38}{_pct(with_rules, 50):>10.1f}{_pct(with_rules, 99):>10.1f}{statistics.fmean(with_rules):>10.1f}")
    print(f"events with at least one hit: {hits / len(events):.1%}")
    batch = events[:1000]
    args = dict(client_ids=[1] * 1000, events=[e for e, _ in batch], features=[f for _, f in batch],
                probability=[0.03] * 1000, risk_score=[20] * 1000, tier=["low"] * 1000)
    full.decide_many(**args)
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        full.decide_many(**args)
        runs.append(time.perf_counter() - began)
    print(f"batch of 1,000 events (columns): {min(runs) * 1000:,.1f} ms best of 5, {min(runs) * 1e6 / 1000:,.1f} µs an event")


def measure_backtest() -> None:
    from django.db import connection
    from django.utils import timezone

    from rules import services
    from rules.backtest import backtest
    from rules.models import BacktestRun, EntityList

    for name, kind in (("devices-0", "device"), ("ranges-0", "ip")):
        if not EntityList.objects.filter(name=name).exists():
            entity_list = services.list_create(name=name, kind=kind, purpose="reference", actor=None)
            data = "\n".join(f"dev-{i * 37}" if kind == "device" else f"10.{i % 4}.{i % 256}.0/24" for i in range(2000))
            services.entries_import_csv(entity_list=entity_list, data=data.encode(), actor=None)
    rules = [
        {"name": "big", "condition": "amount > 800", "action": "review"},
        {"name": "big-failed", "condition": "amount > 300 and payment_status == \"failed\"", "action": "block"},
        {"name": "burst", "condition": "events_1h >= 5", "action": "tier_medium"},
        {"name": "listed-device", "condition": "device_id in list \"devices-0\"", "action": "block"},
        {"name": "listed-range", "condition": "ip_address in list \"ranges-0\" and amount > 50", "action": "review"},
        {"name": "model-high", "condition": "probability > 0.5 and model_tier == \"high\"", "action": "reason"},
        {"name": "logins", "condition": "event_type in [\"login\", \"signup\"] and risk_score > 30", "action": "review"},
        {"name": "no-amount", "condition": "amount is null and event_type == \"payment\"", "action": "reason"},
        {"name": "merchant", "condition": "merchant_id in [\"m-1\", \"m-2\", \"m-3\"]", "action": "tier_low"},
        {"name": "ratio", "condition": "amount / (events_1h + 1) > 400", "action": "reason"},
    ]
    version = services.draft_get_or_create(actor=None)
    for rule in rules:
        if not any(r["name"] == rule["name"] for r in version.rules):
            version = services.draft_rule_save(rule=rule, actor=None)
    with connection.cursor() as cur:
        cur.execute("SELECT min(timestamp), max(timestamp) FROM triage_transaction")
        start, end = cur.fetchone()
    run = BacktestRun.objects.create(version=version, rules=version.rules, period_start=start,
                                     period_end=end + timezone.timedelta(seconds=1))
    began = time.perf_counter()
    backtest(run.pk)
    wall = time.perf_counter() - began
    run.refresh_from_db()
    if run.status != "done":
        print(f"backtest failed: {run.error}")
        return
    f = run.figures
    print(f"backtest of {len(rules)} rules over {f['events']:,} stored events ({f['days']} days): "
          f"read {f['seconds']['read']:.2f} s, total {wall:.2f} s")
    print(f"  the set hits {f['set']['hits']:,} events; {f['labeled']:,} labeled, {f['fraud']:,} fraud; "
          f"precision {f['set']['precision'] or 0:.1%}")


def _label_and_feature() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        print("labels on a third of the events, a feature in every score …", flush=True)
        cur.execute("UPDATE triage_transaction SET is_fraud = (random() < 0.03), label_known_at = timestamp "
                    "+ interval '7 days', label_source = 'import' WHERE id % 3 = 0")
        cur.execute("UPDATE triage_score SET features = jsonb_build_object('events_1h', transaction_id % 7)")
        cur.execute("VACUUM ANALYZE triage_transaction")
        cur.execute("VACUUM ANALYZE triage_score")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="stored events to generate (default 1,000,000)")
    parser.add_argument("--db", default="fraud_bench_rules", help="dedicated database (default fraud_bench_rules)")
    parser.add_argument("--repeats", type=int, default=20_000, help="timed single-event decisions (default 20,000)")
    parser.add_argument("--reuse", action="store_true", help="keep the existing data, only measure")
    args = parser.parse_args(argv)

    use_database(parser, args.db, fresh=not args.reuse)
    from django.core.management import call_command

    print(f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    measure_decide(args.repeats)
    call_command("migrate", verbosity=0)
    if not args.reuse:
        began = time.perf_counter()
        _generate(args.events)
        _label_and_feature()
        print(f"generated {args.events:,} events and scores in {time.perf_counter() - began:.0f} s")
    measure_backtest()
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---- for bench/score_load.py's phase R: the same rules and lists in a live database -----

def install_bench_rules() -> None:
    """Create the 10 lists (as CSV uploads) and activate the 100 rules of this benchmark."""
    from rules import services
    from rules.models import RuleSetVersion

    remove_bench_rules()
    for name, index in _lists().items():
        entity_list = services.list_create(name=name, kind=index.kind, purpose=index.purpose, actor=None)
        values = list(index.exact) + [text for nets in index.networks.values() for _, text in nets.values()]
        services.entries_import_csv(entity_list=entity_list, data="\n".join(values).encode(), actor=None)
    for rule in _rules():
        services.draft_rule_save(rule=rule, actor=None)
    services.version_activate(version=RuleSetVersion.objects.get(status="draft"), actor=None)


def remove_bench_rules() -> None:
    from rules.models import EntityList, RuleSetVersion
    from rules.services import _changed

    RuleSetVersion.objects.all().delete()
    EntityList.objects.all().delete()
    _changed()
