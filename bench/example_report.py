"""Regenerate the example model report in docs/model-report/ from the generator's data.

Trains on the labeled history of a default-shaped synthetic world (its newest labeled
days, which include the drift scenario, form the test period) and writes the report
exactly as `manage.py train` does. Usage: python bench/example_report.py [--accounts N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthetic.generator import WorldConfig, generate_world  # noqa: E402
from ml.report import write_report  # noqa: E402
from ml.training import TrainingConfig, comparison_table, train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "model-report")
    args = parser.parse_args()
    world = generate_world(WorldConfig(accounts=args.accounts, days=args.days, seed=7))
    history = world[world["period"] == "history"].copy()
    history["is_fraud"] = history["is_fraud"].astype("float64")
    started, cpu = time.perf_counter(), time.process_time()
    result = train_model(history, TrainingConfig(capacity_per_day=100), progress=print)
    print(f"trained in {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s cpu")
    print(comparison_table(result.metrics["candidates"]))
    manifest = {"id": "example (synthetic world, seed 7)", "created_at": time.strftime("%Y-%m-%d")}
    print(write_report(args.out, result=result, manifest=manifest))


if __name__ == "__main__":
    main()
