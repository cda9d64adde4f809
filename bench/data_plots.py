"""Draw the figures of docs/data.md from a generated synthetic world.

    python bench/data_plots.py                 # default world (2,000 accounts x 60 days), seed 7
    python bench/data_plots.py --out docs/img --accounts 4000

Writes four PNGs: fraud rate by hour x weekday, amounts of legitimate vs fraud events,
fraud events per scenario per day (the drift period shaded), and the label delay.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.generator import SCENARIOS, WorldConfig, generate_world  # noqa: E402

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def fraud_by_hour_and_weekday(world: pd.DataFrame, path: Path) -> None:
    rate = world.pivot_table(
        index=world["timestamp"].dt.day_of_week, columns=world["timestamp"].dt.hour, values="is_fraud", aggfunc="mean"
    ).reindex(index=range(7), columns=range(24))
    fig, ax = plt.subplots(figsize=(9, 3.4))
    image = ax.imshow(rate.to_numpy() * 100, aspect="auto", cmap="Reds")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour of day (UTC)")
    ax.set_title("Fraud rate by hour and weekday")
    fig.colorbar(image, ax=ax, label="% of events that are fraud")
    _save(fig, path)


def amounts(world: pd.DataFrame, path: Path) -> None:
    paid = world[world["amount"].notna() & (world["amount"] > 0)]
    bins = np.logspace(np.log10(0.3), np.log10(paid["amount"].max() * 1.1), 60)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for is_fraud, label, color in ((False, "legitimate", "#4a7ab5"), (True, "fraud", "#c0392b")):
        values = paid.loc[paid["is_fraud"] == is_fraud, "amount"]
        # Weighted to shares, not densities: log-width bins would otherwise favour small amounts.
        ax.hist(values, bins=bins, weights=np.full(len(values), 100 / len(values)), histtype="stepfilled",
                alpha=0.45, color=color,
                label=f"{label} ({len(values):,} events)")
    ax.set_xscale("log")
    ax.set_xlabel("amount (log scale)")
    ax.set_ylabel("% of the group's payments")
    ax.set_title("Amounts: card-testing probes are tiny, takeovers and rings spend big")
    ax.legend()
    _save(fig, path)


def scenarios_over_time(world: pd.DataFrame, config: WorldConfig, path: Path) -> None:
    fraud = world[world["is_fraud"]]
    daily = fraud.groupby([fraud["timestamp"].dt.floor("D"), "scenario"]).size().unstack(fill_value=0)
    days = pd.date_range(config.start, periods=config.days, freq="D", tz="UTC")
    daily = daily.reindex(index=days, columns=list(SCENARIOS), fill_value=0)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.stackplot(daily.index, daily.T.to_numpy(), labels=[s.replace("_", " ") for s in SCENARIOS], alpha=0.85)
    drift_start = config.start + timedelta(days=config.days - config.drift_days)
    ax.axvspan(drift_start, config.start + timedelta(days=config.days), color="grey", alpha=0.15, label="drift period")
    unlabeled = config.start + timedelta(days=config.days - config.unlabeled_days)
    ax.axvline(unlabeled, color="black", linestyle="--", linewidth=1, label="unlabeled period starts")
    ax.set_ylabel("fraud events per day")
    ax.set_title("Fraud events per scenario per day")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    fig.autofmt_xdate()
    _save(fig, path)


def label_delay(world: pd.DataFrame, path: Path) -> None:
    delay_days = (world["label_known_at"] - world["timestamp"]).dt.total_seconds() / 86_400
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.hist(delay_days, bins=np.linspace(0, np.quantile(delay_days, 0.995), 60), color="#6c5b7b")
    ax.axvline(delay_days.mean(), color="black", linestyle="--", linewidth=1, label=f"mean {delay_days.mean():.1f} days")
    ax.set_xlabel("days from the event until its label is known")
    ax.set_ylabel("events")
    ax.set_title("Label delay")
    ax.legend()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    config = WorldConfig(accounts=args.accounts, days=args.days, seed=args.seed)
    world = generate_world(config)
    args.out.mkdir(parents=True, exist_ok=True)
    fraud_by_hour_and_weekday(world, args.out / "fraud-by-hour-weekday.png")
    amounts(world, args.out / "amounts.png")
    scenarios_over_time(world, config, args.out / "scenarios-over-time.png")
    label_delay(world, args.out / "label-delay.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
