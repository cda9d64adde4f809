"""Reads for scoring and training: event tables as pandas frames, account histories."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
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
    """Recent events per account in [since, until] in (timestamp, id) order, and each
    account's latest event before `since` (for time since previous event).

    Rows carry HISTORY_FIELDS plus `client_id` and `event_id`. On PostgreSQL this is
    one query whatever the number of accounts, each part an index range scan on
    (account_id, timestamp), so its cost follows the accounts' activity, not the table size.
    """
    accounts = sorted(set(account_ids))
    if connection.vendor == "postgresql":
        return _account_histories_sql(accounts, since, until)
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fields = (*HISTORY_FIELDS, "client_id", "event_id")
    rows = (
        Transaction.objects.filter(account_id__in=accounts, timestamp__gte=since, timestamp__lte=until)
        .order_by("timestamp", "id")
        .values(*fields)
    )
    for row in rows:
        histories[row["account_id"]].append(row)
    previous: dict[str, dict[str, Any]] = {}
    older = Transaction.objects.filter(timestamp__lt=since)
    for account in accounts:
        row = older.filter(account_id=account).order_by("-timestamp", "-id").values(*fields).first()
        if row:
            previous[account] = row
    return histories, previous


# The live path reads timestamps as integer milliseconds (parsing tens of thousands of
# timestamp strings per batch costs more than scoring it) and turns them into datetimes
# with one addition each. Features work at millisecond resolution, so nothing changes.
_SQL_EXPRESSIONS = {
    "timestamp": "(extract(epoch FROM t.timestamp) * 1000)::bigint",
    "amount": "t.amount::float8",
    "ip_address": "host(t.ip_address)",
    "account_created_at": "NULL::bigint",  # only the incoming event's sign-up time is used
}
_HISTORY_NAMES = (*HISTORY_FIELDS, "client_id", "event_id")
_HISTORY_COLUMNS = ", ".join(_SQL_EXPRESSIONS.get(name, f"t.{name}") for name in _HISTORY_NAMES)
_HISTORY_SQL = f"""
    SELECT h.* FROM unnest(%(accounts)s::text[]) AS a(account_id) CROSS JOIN LATERAL (
        (SELECT true AS in_window, {_HISTORY_COLUMNS} FROM triage_transaction t
         WHERE t.account_id = a.account_id AND t.timestamp >= %(since)s AND t.timestamp <= %(until)s)
        UNION ALL
        (SELECT false, {_HISTORY_COLUMNS} FROM triage_transaction t
         WHERE t.account_id = a.account_id AND t.timestamp < %(since)s
         ORDER BY t.timestamp DESC, t.id DESC LIMIT 1)
    ) AS h
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TIMESTAMP_AT = _HISTORY_NAMES.index("timestamp")


def _account_histories_sql(accounts: list[str], since: datetime, until: datetime):
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    previous: dict[str, dict[str, Any]] = {}
    from scoring.store_sql import fetch_prepared

    for in_window, *values in fetch_prepared(_HISTORY_SQL, {"accounts": accounts, "since": since, "until": until}):
        values[_TIMESTAMP_AT] = _EPOCH + timedelta(milliseconds=values[_TIMESTAMP_AT])
        row = dict(zip(_HISTORY_NAMES, values))
        if in_window:
            histories[row["account_id"]].append(row)
        else:
            previous[row["account_id"]] = row
    for rows in histories.values():
        rows.sort(key=lambda r: (r["timestamp"], r["id"]))
    return histories, previous


def history_window() -> timedelta:
    return timedelta(milliseconds=HISTORY_WINDOW_MS)
