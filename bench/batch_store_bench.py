"""Benchmark: batch scoring of ~1 M stored events into PostgreSQL (`score_batch --start`).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fraud_bench_batch python bench/batch_store_bench.py

Generates the offline benchmark's world (21,000 accounts × 60 days ≈ 1 M events, seed 7),
stores it in a dedicated database once (created and migrated when missing; reloaded when it
holds another world), trains a model on its labeled history once and registers it. Then it
empties the score table and times what `score_batch --start` does: read every stored event
with COPY, batch features, calibrated probabilities, tiers, the high tier's feature vectors,
and COPY of every score into `triage_score`, all in one transaction; the high tier's SHAP
explanations are queued for the workers after the commit (not timed). A second run must
store nothing and report every event as already scored. Prints wall time, CPU of this
process and CPU of the PostgreSQL backend. Target (product brief): 1 M events ≤ 15 s.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.import_bench import _database_ready  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/fraud_bench_batch"


def _backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a PostgreSQL backend on this machine, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=21_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="broker the explanation tasks are queued to (emptied at the end; no worker runs them)")
    parser.add_argument("--runs", type=int, default=1, help="timed first runs (scores emptied before each)")
    args = parser.parse_args(argv)

    _database_ready(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    # A real broker, so explanations are queued for workers as in production, not run here.
    os.environ["REDIS_URL"] = args.redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("MODEL_DIR", str(ROOT / "var" / "bench-models"))
    import django
    import pandas as pd

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from accounts.services import import_source_get_or_create
    from scoring.batch.run import BatchModel, tier_summary
    from scoring.batch.store import stored_events_score
    from ml.features import FEATURE_NAMES
    from synthetic.generator import WorldConfig, generate_world
    from scoring.store.events import events_load
    from scoring.models import ModelVersion
    from scoring.registry import load_version
    from learning.lifecycle import model_version_register
    from ml.training import TrainingConfig, fingerprint, train_model
    from triage.models import Transaction

    call_command("migrate", verbosity=0)
    world = generate_world(WorldConfig(accounts=args.accounts, days=args.days, seed=7))
    print(f"world           {len(world):,} events; database {connection.settings_dict['NAME']}")
    # The model is retrained when the world or the feature list changes.
    marker = f"batch bench world {fingerprint(world)} features {zlib.crc32(' '.join(FEATURE_NAMES).encode()):08x}"
    stored = Transaction.objects.count()
    if stored != len(world):
        print(f"loading         {len(world):,} events (the database held {stored:,}) …")
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE triage_transaction CASCADE")
        began = time.perf_counter()
        events_load(frame=world, client=import_source_get_or_create(name="bench"))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE triage_transaction")  # as an import of this size does
        print(f"                stored in {time.perf_counter() - began:.1f} s (not timed below)")
    if not ModelVersion.objects.filter(note=marker).exists():
        history = world[world["period"] == "history"].copy()
        history["is_fraud"] = history["is_fraud"].astype("float64")
        began = time.perf_counter()
        result = train_model(history, TrainingConfig(capacity_per_day=100))
        version = model_version_register(result=result)
        ModelVersion.objects.filter(pk=version.pk).update(note=marker)
        print(f"model           {version.name} trained in {time.perf_counter() - began:.1f} s (not timed below)")
    version = ModelVersion.objects.filter(note=marker).latest("created_at")
    loaded = load_version(version)
    model = BatchModel(name=version.name, booster=loaded.booster, feature_names=loaded.feature_names,
                       thresholds=loaded.thresholds, calibration=loaded.manifest["calibration"], design=loaded.design)
    start, end = world["timestamp"].min(), world["timestamp"].max() + pd.Timedelta(seconds=1)
    # `score_batch` runs in a process of its own: the generated world is not part of it.
    del world
    gc.collect()

    def run(label: str):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        stages: list[tuple[str, float]] = []
        began, cpu, db_cpu = time.perf_counter(), time.process_time(), _backend_cpu_seconds(backend)
        last = [began]

        def tick(stage: str, n: int) -> None:
            now = time.perf_counter()
            stages.append((stage, now - last[0]))
            last[0] = now

        outcome = stored_events_score(start=start, end=end, model=model, explain_tiers=("high",),
                                      default_event_value=settings.DEFAULT_EVENT_VALUE, progress=tick)
        wall = time.perf_counter() - began
        merged: dict[str, float] = {}
        for stage, seconds in stages:
            merged[stage] = merged.get(stage, 0.0) + seconds
        print(f"{label:<16}{wall:6.1f} s wall, {outcome.stored:,} stored, {outcome.already_scored:,} already scored, "
              f"{outcome.explanations_queued:,} explanations queued; "
              f"CPU: this process {time.process_time() - cpu:.1f} s, PostgreSQL backend "
              f"{_backend_cpu_seconds(backend) - db_cpu:.1f} s")
        print(f"{'':<16}stages (s, up to each stage's end): "
              + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in merged.items())
              + f", rest {wall - sum(merged.values()):.1f}")
        return outcome

    for attempt in range(args.runs):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE triage_score CASCADE")
            cursor.execute("VACUUM ANALYZE triage_score")
        outcome = run(f"first run {attempt + 1}" if args.runs > 1 else "first run")
    print(tier_summary(outcome.scored).to_string())
    run("second run")
    from config.celery import app

    print(f"purged {app.control.purge()} queued explanation tasks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
