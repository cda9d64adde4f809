"""Reads for scoring and training: event tables as pandas frames, account histories."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable

import pandas as pd
from django.db import connection

from scoring.features import HISTORY_WINDOW_MS
from triage.models import Transaction

HISTORY_FIELDS = (
    "id", "account_id", "timestamp", "amount", "payment_status", "device_id", "ip_address",
    "latitude", "longitude", "session_duration", "merchant_id", "account_created_at",
    "country", "event_type",
)
FRAME_COLUMNS = (
    "id", "event_id", "account_id", "timestamp", "event_type", "amount", "currency", "payment_status",
    "device_id", "ip_address", "latitude", "longitude", "country", "session_duration", "merchant_id",
    "category", "account_created_at", "is_fraud", "label_known_at",
)


def events_frame(
    *, labeled_only: bool = False, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """Stored events (all, or with timestamp in [since, until)) as a DataFrame in
    ingestion order, `seq` = primary key."""
    queryset = Transaction.objects.order_by("id")
    if labeled_only:
        queryset = queryset.filter(is_fraud__isnull=False)
    if since is not None:
        queryset = queryset.filter(timestamp__gte=since)
    if until is not None:
        queryset = queryset.filter(timestamp__lt=until)
    rows = list(queryset.values_list(*FRAME_COLUMNS))
    frame = pd.DataFrame.from_records(rows, columns=list(FRAME_COLUMNS))
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").astype("float64")
    for column in ("timestamp", "account_created_at", "label_known_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["ip_address"] = frame["ip_address"].fillna("")
    frame["is_fraud"] = frame["is_fraud"].astype("float64")
    frame["seq"] = frame["id"]
    return frame


def account_histories(
    *, account_ids: Iterable[str], since: datetime, until: datetime
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Recent events per account in [since, until] in ingestion order, and for accounts
    with none in that window, their latest earlier event (for time since previous event).
    """
    accounts = sorted(set(account_ids))
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        Transaction.objects.filter(account_id__in=accounts, timestamp__gte=since, timestamp__lte=until)
        .order_by("timestamp", "id")
        .values(*HISTORY_FIELDS)
    )
    for row in rows:
        histories[row["account_id"]].append(row)
    # History is ordered by (timestamp, id): the definition the batch path uses.
    previous: dict[str, dict[str, Any]] = {}
    missing = [a for a in accounts if a not in histories]
    if missing:
        older = Transaction.objects.filter(account_id__in=missing, timestamp__lt=since)
        if connection.vendor == "postgresql":
            for row in older.order_by("account_id", "-timestamp", "-id").distinct("account_id").values(*HISTORY_FIELDS):
                previous[row["account_id"]] = row
        else:
            for account in missing:
                row = older.filter(account_id=account).order_by("-timestamp", "-id").values(*HISTORY_FIELDS).first()
                if row:
                    previous[account] = row
    return histories, previous


def history_window() -> timedelta:
    return timedelta(milliseconds=HISTORY_WINDOW_MS)
