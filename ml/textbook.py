"""Textbook per-entity window features: the reference every fraud model should beat. No Django.

These are the features of the *Reproducible Machine Learning for Credit Card Fraud
Detection* handbook (Le Borgne et al., chapter 3, "baseline feature transformation"),
written independently of our own feature engine so that a bug there cannot flatter the
comparison:

* the amount; whether the event is on a weekend, and at night (hour ≤ 6, UTC);
* per customer (account): number of events and mean amount over the last 1, 7 and 30
  days, the event itself included;
* per terminal (merchant): number of events and share of fraud over the 1, 7 and 30 days
  that end `delay` before the event, so only labels a bank would know are used.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS_DAYS = (1, 7, 30)
TEXTBOOK_NAMES = (
    "amount", "during_weekend", "during_night",
    *(f"customer_events_{d}d" for d in WINDOWS_DAYS),
    *(f"customer_mean_amount_{d}d" for d in WINDOWS_DAYS),
    *(f"terminal_events_{d}d_delayed" for d in WINDOWS_DAYS),
    *(f"terminal_fraud_share_{d}d_delayed" for d in WINDOWS_DAYS),
)


def textbook_features(events: pd.DataFrame, *, delay_days: float = 7.0) -> pd.DataFrame:
    """The textbook features for every event (input: account_id, timestamp, amount,
    merchant_id, is_fraud with NaN for unknown), aligned to `events`' index."""
    frame = pd.DataFrame({
        "account": events["account_id"].astype(str).to_numpy(),
        "terminal": events["merchant_id"].astype("string").fillna("").to_numpy() if "merchant_id" in events else "",
        "time": pd.to_datetime(events["timestamp"], utc=True).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        "amount": pd.to_numeric(events.get("amount"), errors="coerce").to_numpy(dtype="float64") if "amount" in events else np.nan,
        "fraud": events["is_fraud"].fillna(0).astype("float64").to_numpy(),
        "row": np.arange(len(events)),
    })
    out = pd.DataFrame(index=np.arange(len(events)))
    out["amount"] = frame["amount"].to_numpy()
    out["during_weekend"] = (frame["time"].dt.dayofweek >= 5).astype("float64").to_numpy()
    out["during_night"] = (frame["time"].dt.hour <= 6).astype("float64").to_numpy()

    by_customer = frame.sort_values(["account", "time", "row"], kind="stable")
    for days in WINDOWS_DAYS:
        rolled = by_customer.groupby("account", sort=False).rolling(f"{days}D", on="time")["amount"]
        count = rolled.count().to_numpy()
        mean = rolled.mean().to_numpy()
        out.loc[by_customer["row"].to_numpy(), f"customer_events_{days}d"] = count
        out.loc[by_customer["row"].to_numpy(), f"customer_mean_amount_{days}d"] = mean

    by_terminal = frame[frame["terminal"] != ""].sort_values(["terminal", "time", "row"], kind="stable")
    rows = by_terminal["row"].to_numpy()
    grouped = by_terminal.groupby("terminal", sort=False)

    def rolling_sums(days: float) -> tuple[np.ndarray, np.ndarray]:
        rolled = grouped.rolling(pd.Timedelta(days=days), on="time")["fraud"]
        return rolled.count().to_numpy(), rolled.sum().to_numpy()

    delay_count, delay_fraud = rolling_sums(delay_days)
    for days in WINDOWS_DAYS:
        count, fraud = rolling_sums(delay_days + days)
        events_in = count - delay_count
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(events_in > 0, (fraud - delay_fraud) / np.maximum(events_in, 1), 0.0)
        out[f"terminal_events_{days}d_delayed"] = np.nan
        out[f"terminal_fraud_share_{days}d_delayed"] = np.nan
        out.loc[rows, f"terminal_events_{days}d_delayed"] = events_in
        out.loc[rows, f"terminal_fraud_share_{days}d_delayed"] = share
    out.index = events.index
    return out[list(TEXTBOOK_NAMES)].astype("float64")
