"""Offline model work at scale: features, training and batch scoring on ~1 M events.

Generates a synthetic world (21,000 accounts × 60 days ≈ 1 M events), then times:
  1. batch features for every event,
  2. training (LightGBM with its time-bounded tuning, both baselines, calibration, SHAP
     importance) on the labeled history,
  3. batch scoring of every event with the trained model, written to Parquet.
Prints each figure. Usage: python bench/model_bench.py [--accounts N] [--days D]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.batch.run import BatchModel, score_frame, tier_summary, write_scores  # noqa: E402
from ml.features import batch_features  # noqa: E402
from synthetic.generator import WorldConfig, generate_world  # noqa: E402
from ml.training import TrainingConfig, comparison_table, train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=21_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--capacity", type=int, default=100)
    args = parser.parse_args()

    started = time.perf_counter()
    world = generate_world(WorldConfig(accounts=args.accounts, days=args.days, seed=7))
    print(f"world: {len(world):,} events in {time.perf_counter() - started:.1f} s (cpus: {os.cpu_count()})")

    started, cpu = time.perf_counter(), time.process_time()
    features = batch_features(world)
    features_s = time.perf_counter() - started
    print(f"features: {features.shape[1]} features × {len(world):,} events in {features_s:.1f} s "
          f"({len(world) / features_s:,.0f} events/s; {time.process_time() - cpu:.1f} s cpu)  target ≤ 30 s")

    history = world[world["period"] == "history"].copy()
    history["is_fraud"] = history["is_fraud"].astype("float64")
    started, cpu = time.perf_counter(), time.process_time()
    result = train_model(history, TrainingConfig(capacity_per_day=args.capacity), progress=lambda m: print(f"  · {m}"))
    training_s = time.perf_counter() - started
    print(f"training on {len(history):,} events: {training_s:.1f} s total ({time.process_time() - cpu:.1f} s cpu, "
          f"both cores); stages {result.timings}  target ≤ 60 s")
    print(comparison_table(result.metrics["candidates"]))

    model = BatchModel(name="bench", booster=result.booster, feature_names=result.feature_names,
                       thresholds=result.thresholds, calibration=result.calibration, design=result.design)
    # Labels count only from the time each became known, as for stored history.
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu = time.perf_counter(), time.process_time()
        scored = score_frame(world, model)
        write_scores(scored, Path(tmp) / "scores.parquet")
        scoring_s = time.perf_counter() - started
    print(f"batch scoring {len(scored):,} events incl. features, reasons and Parquet: {scoring_s:.1f} s "
          f"({len(scored) / scoring_s:,.0f} events/s; {time.process_time() - cpu:.1f} s cpu)  target ≤ 15 s")
    print(tier_summary(scored).to_string())


if __name__ == "__main__":
    main()
