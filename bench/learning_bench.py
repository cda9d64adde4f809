"""Benchmark: the learning loop's numeric work on a generated world, without the database.

    python bench/learning_bench.py                    # ~240 k events (5,000 accounts x 60 days)
    python bench/learning_bench.py --accounts 21000   # ~1 M events

Times each step a retraining run and a drift check do after loading events: features,
training the challenger with the holdout's labels hidden, scoring champion and challenger on
the holdout, storing reference bins, and one PSI check over a day of live traffic. Prints
seconds per step and the holdout verdict. Loading from PostgreSQL is not included.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from learning.evaluation import PromotionRule, holdout_mask, holdout_metrics, promotion_verdict  # noqa: E402
from ml.psi import psi_against, reference_bins  # noqa: E402
from ml.features import batch_features  # noqa: E402
from synthetic.generator import WorldConfig, generate_world  # noqa: E402
from ml.training import TrainingConfig, train_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=300, help="boosting rounds at most (early stopping applies)")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}

    def timed(step: str, call):
        began = time.perf_counter()
        value = call()
        timings[step] = time.perf_counter() - began
        print(f"{step:<34} {timings[step]:8.2f} s", flush=True)
        return value

    world = timed("generate world", lambda: generate_world(WorldConfig(accounts=args.accounts, days=args.days)))
    world["seq"] = np.arange(len(world))
    world["is_fraud"] = world["is_fraud"].astype("float64")
    print(f"{'events':<34} {len(world):8,}")
    mask = holdout_mask(world, 0.15)
    config = TrainingConfig(capacity_per_day=100, max_rounds=args.rounds)
    early = world[world["timestamp"] < world["timestamp"].quantile(0.5)].copy()
    champion = timed("train champion (first half)", lambda: train_model(early, config))
    hidden = world.copy()
    hidden.loc[mask, "is_fraud"] = np.nan
    challenger = timed("train challenger (holdout hidden)", lambda: train_model(hidden, config))
    features = timed("features for evaluation", lambda: batch_features(world))
    y = world.loc[mask, "is_fraud"].astype(int).to_numpy()

    def judge():
        metrics = {}
        for name, result in (("champion", champion), ("challenger", challenger)):
            matrix = features.loc[mask, result.feature_names].to_numpy(dtype="float64")
            metrics[name] = holdout_metrics(y, result.booster.predict(matrix))
        return metrics

    metrics = timed("score both on the holdout", judge)
    reference_rows = (world["timestamp"] < world.loc[mask, "timestamp"].min()).to_numpy()
    names = challenger.feature_names
    bins = timed(
        "reference bins", lambda: {n: reference_bins(features.loc[reference_rows, n].to_numpy()) for n in names}
    )
    last_day = (world["timestamp"] >= world["timestamp"].max() - pd.Timedelta(days=1)).to_numpy()
    psi = timed("PSI check (last day)", lambda: {n: psi_against(bins[n], features.loc[last_day, n].to_numpy()) for n in names})
    promote, reason = promotion_verdict(metrics["champion"], metrics["challenger"], PromotionRule())
    print(f"{'holdout events / fraud':<34} {int(mask.sum()):,} / {int(y.sum()):,}")
    print(f"{'verdict':<34} {'promote' if promote else 'keep'}: {reason}")
    checked = {name: value for name, value in psi.items() if name != "day_of_week"}  # as the drift check does
    name, value = max(checked.items(), key=lambda kv: kv[1])
    print(f"{'largest PSI on the last day':<34} {name} {value:.3f} (drift period; alert above 0.2)")
    print(f"{'retraining compute total':<34} {sum(v for k, v in timings.items() if k not in ('generate world', 'train champion (first half)', 'PSI check (last day)')):8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
