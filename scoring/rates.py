"""Exchange rates: the table every money figure is converted with, and loading it from CSV."""
from __future__ import annotations

import csv
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from audit.services import audit_record
from core.money import RateTable
from scoring.models import ExchangeRate
from scoring.signals import rates_loaded
from scoring.validation import currency_codes

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cached: tuple[float, RateTable] | None = None
_warned: set[str] = set()


def rate_table(*, fresh: bool = False) -> RateTable:
    """The rates as this process knows them, read again every RATES_REFRESH_SECONDS."""
    global _cached
    now = time.monotonic()
    with _lock:
        if not fresh and _cached is not None and now - _cached[0] < settings.RATES_REFRESH_SECONDS \
                and _cached[1].reporting == settings.REPORTING_CURRENCY:
            return _cached[1]
    rows = ExchangeRate.objects.values_list("currency", "day", "rate")
    table = RateTable.from_rows(settings.REPORTING_CURRENCY, ((c, d, float(r)) for c, d, r in rows))
    with _lock:
        _cached = (now, table)
    return table


def rates_forget() -> None:
    """Drop this process's table (after a load, or between tests)."""
    global _cached
    with _lock:
        _cached = None


def unconverted_warn(currencies: Any) -> None:
    """Say once per process and currency that amounts in it are counted as they are."""
    for code in set(currencies) - _warned:
        _warned.add(code)
        log.warning("no exchange rate for %s: its amounts count 1:1 in %s until rates are loaded (load_rates)",
                    code, settings.REPORTING_CURRENCY)


def in_reporting(amount: float | None, currency: str, day: date) -> float | None:
    """One amount in the reporting currency (as it is when its currency has no rate)."""
    if amount is None:
        return None
    rate = rate_table().rate(currency, day)
    if rate is None:
        unconverted_warn([currency.upper()])
        return amount
    return amount * rate


def events_in_reporting(events: Any) -> Any:
    """The events' amounts (NaN without one) in the reporting currency, at their day's rate."""
    amounts = [float(e["amount"]) if e.get("amount") is not None else float("nan") for e in events]
    currencies = [(e.get("currency") or "").upper() for e in events]
    days = [e["timestamp"].date() if hasattr(e["timestamp"], "date") else date.fromisoformat(str(e["timestamp"])[:10])
            for e in events]
    converted, unknown = rate_table().convert(amounts, currencies, days)
    if unknown.any():
        unconverted_warn(np.asarray(currencies)[unknown])
    return converted


def frame_in_reporting(amounts: Any, currencies: Any, timestamps: Any) -> Any:
    """`events_in_reporting` for a batch's columns."""
    currencies = pd.Series(currencies).reset_index(drop=True)
    converted, unknown = rate_table().convert_frame(pd.Series(amounts).reset_index(drop=True), currencies,
                                                    pd.Series(timestamps).reset_index(drop=True))
    if unknown.any():
        unconverted_warn(currencies[unknown].str.upper().unique())
    return converted


@dataclass
class RatesLoad:
    stored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


REQUIRED_COLUMNS = ("date", "currency", "rate")


def rates_load(*, path: Path, actor: Any = None) -> RatesLoad:
    """Load dated rates from a CSV with columns date (YYYY-MM-DD), currency (ISO 4217) and rate
    (units of the reporting currency per unit). A row already loaded for that currency and day
    is replaced. Bad rows are refused with their line and reason; the good ones are stored in
    one transaction. Raises ValueError when the file lacks a column."""
    result = RatesLoad()
    good: dict[tuple[str, date], Decimal] = {}
    known = currency_codes()
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path.name} lacks the column(s) {', '.join(missing)}; it needs date, currency and rate")
        for line, row in enumerate(reader, start=2):
            problem, parsed = _parse(row, known)
            if problem:
                result.rejected.append({"line": line, "reason": problem, **{c: row.get(c) for c in REQUIRED_COLUMNS}})
            else:
                good[parsed[0], parsed[1]] = parsed[2]
    with transaction.atomic():
        for (currency, day), rate in good.items():
            ExchangeRate.objects.update_or_create(currency=currency, day=day, defaults={"rate": rate, "source": path.name})
        result.stored = len(good)
        if good:
            rates_loaded.send(sender=ExchangeRate, currencies=sorted({c for c, _ in good}), since=min(d for _, d in good))
        audit_record(actor=actor, action="rates_loaded", object_type="exchange_rates", object_id=path.name,
                     detail={"stored": result.stored, "rejected": len(result.rejected),
                             "reporting_currency": settings.REPORTING_CURRENCY,
                             "currencies": sorted({c for c, _ in good})})
    rates_forget()
    return result


def _parse(row: dict[str, str], known: frozenset[str]) -> tuple[str, tuple[str, date, Decimal] | None]:
    currency = (row.get("currency") or "").strip().upper()
    if currency not in known:
        return f"currency {currency or '(empty)'!r} is not an ISO 4217 code", None
    if currency == settings.REPORTING_CURRENCY:
        return f"{currency} is the reporting currency (its rate is always 1)", None
    try:
        day = date.fromisoformat((row.get("date") or "").strip())
    except ValueError:
        return f"date {row.get('date')!r} is not YYYY-MM-DD", None
    try:
        rate = Decimal((row.get("rate") or "").strip())
    except InvalidOperation:
        return f"rate {row.get('rate')!r} is not a number", None
    if not rate.is_finite() or rate <= 0:
        return f"rate {row.get('rate')!r} must be a positive number", None
    return "", (currency, day, rate)
