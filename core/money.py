"""Amounts in one reporting currency: a table of dated rates and the conversion. No Django here.

A rate says how many units of the reporting currency one unit of a currency was worth on a
day. An amount is converted at the latest rate on or before its event's day (rates are
published for days, and a weekend or holiday keeps Friday's); an event before the first
rate of its currency takes that first rate. Amounts in the reporting currency, or sent
without a currency, are taken as they are. A currency with no rate at all cannot be
converted: `convert` says which amounts those are, so callers decide (and say) what to do.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RateTable:
    reporting: str
    # currency -> (sorted days as ordinal numbers, rates in the same order)
    rates: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, reporting: str, rows: Iterable[tuple[str, date, float]]) -> "RateTable":
        by_currency: dict[str, list[tuple[int, float]]] = {}
        for currency, day, rate in rows:
            by_currency.setdefault(currency.upper(), []).append((day.toordinal(), float(rate)))
        table = {c: ([d for d, _ in sorted(v)], [r for _, r in sorted(v)]) for c, v in by_currency.items()}
        return cls(reporting=reporting.upper(), rates=table)

    def rate(self, currency: str, day: date) -> float | None:
        """The rate of `currency` on `day` (1 for the reporting currency or none), or None."""
        code = (currency or "").upper()
        if not code or code == self.reporting:
            return 1.0
        known = self.rates.get(code)
        if known is None:
            return None
        days, values = known
        i = bisect.bisect_right(days, day.toordinal()) - 1
        return values[max(i, 0)]

    def convert(self, amounts: Sequence[float], currencies: Sequence[str], days: Sequence[date]) -> tuple[np.ndarray, np.ndarray]:
        """Amounts in the reporting currency, and a mask of those whose currency has no rate
        (left as they were)."""
        out = np.asarray(amounts, dtype="float64").copy()
        unknown = np.zeros(len(out), dtype=bool)
        for i, (currency, day) in enumerate(zip(currencies, days)):
            rate = self.rate(currency, day)
            if rate is None:
                unknown[i] = True
            else:
                out[i] *= rate
        return out, unknown

    def convert_frame(self, amounts: pd.Series, currencies: pd.Series, timestamps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """`convert` for a batch: one pass per currency present, not per row."""
        out = pd.to_numeric(amounts, errors="coerce").to_numpy(dtype="float64", na_value=np.nan).copy()
        codes = currencies.fillna("").astype(str).str.upper().to_numpy()
        days = pd.to_datetime(timestamps, utc=True).dt.tz_convert("UTC").dt.date.map(date.toordinal).to_numpy()
        unknown = np.zeros(len(out), dtype=bool)
        for code in np.unique(codes):
            rows = codes == code
            if not code or code == self.reporting:
                continue
            known = self.rates.get(code)
            if known is None:
                unknown |= rows
                continue
            known_days, values = np.asarray(known[0]), np.asarray(known[1])
            at = np.clip(np.searchsorted(known_days, days[rows], side="right") - 1, 0, None)
            out[rows] *= values[at]
        return out, unknown
