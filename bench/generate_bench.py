"""Benchmark: how fast the synthetic fraud world generates, and what comes out.

    python bench/generate_bench.py                      # ~1 M events (21,000 accounts x 60 days)
    python bench/generate_bench.py --accounts 2000 --days 30 --out var/world.parquet

Prints the event count, wall-clock seconds, events per second, the fraud share and the
events per scenario. Budget (docs/benchmarks.md): 1 M events in at most 60 s on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.generator import SCENARIOS, WorldConfig, generate_world, write_world  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=21_000, help="customers to simulate (default 21000)")
    parser.add_argument("--days", type=int, default=60, help="days to simulate (default 60)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=None, help="also write the world to this .csv or .parquet file")
    args = parser.parse_args(argv)

    config = WorldConfig(accounts=args.accounts, days=args.days, seed=args.seed)
    began = time.perf_counter()
    world = generate_world(config)
    seconds = time.perf_counter() - began

    events = len(world)
    print(f"accounts        {config.accounts:,}")
    print(f"days            {config.days} (last {config.unlabeled_days} unlabeled, drift in last {config.drift_days})")
    print(f"events          {events:,}")
    print(f"seconds         {seconds:.2f}")
    print(f"events/s        {events / seconds:,.0f}")
    print(f"fraud share     {world.is_fraud.mean():.4f} (target {config.fraud_prevalence})")
    print(f"memory          {world.memory_usage(deep=True).sum() / 1e6:,.0f} MB")
    counts = world.scenario.value_counts()
    print("events per scenario")
    for scenario in SCENARIOS:
        print(f"  {scenario:<22}{int(counts.get(scenario, 0)):>10,}")
    print(f"  {'(legitimate)':<22}{int((~world.is_fraud).sum()):>10,}")

    if args.out is not None:
        began = time.perf_counter()
        path = write_world(world, args.out)
        print(f"wrote {path} in {time.perf_counter() - began:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
