"""Writes examples/fraud-handbook-sample.csv: a few dozen made-up card transactions in the
layout of the simulated table of the "Reproducible Machine Learning for Credit Card Fraud
Detection" handbook (customers, terminals, TX_FRAUD, TX_FRAUD_SCENARIO 0-3).

    python examples/make_handbook_sample.py

The values are invented for the import test and the mapping example; deterministic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 40
START = pd.Timestamp("2018-04-01 00:00:00")


def main() -> Path:
    rng = np.random.default_rng(2018)
    seconds = np.sort(rng.integers(0, 3 * 86_400, ROWS))
    scenario = np.zeros(ROWS, dtype=int)
    scenario[[5, 17, 29]] = [1, 2, 3]  # amount > 220, compromised terminal, leaked card
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(ROWS),
            "TX_DATETIME": (START + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
            "CUSTOMER_ID": rng.integers(0, 12, ROWS),
            "TERMINAL_ID": rng.integers(0, 30, ROWS),
            "TX_AMOUNT": np.round(rng.gamma(2.0, 30.0, ROWS), 2),
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": seconds // 86_400,
            "TX_FRAUD": (scenario > 0).astype(int),
            "TX_FRAUD_SCENARIO": scenario,
        }
    )
    frame.loc[5, "TX_AMOUNT"] = 231.45
    path = Path(__file__).with_name("fraud-handbook-sample.csv")
    frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    print(main())
