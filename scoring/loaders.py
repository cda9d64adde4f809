"""Loading event tables (generated or imported) into the transactions table, once each."""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Callable

import pandas as pd
from django.db import transaction

from accounts.models import ApiClient
from triage.models import Transaction

CHUNK = 5000
_TEXT = ("event_type", "currency", "payment_status", "device_id", "country", "merchant_id", "category", "scenario")


def _none_if_nan(value):
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def events_load(
    *, frame: pd.DataFrame, client: ApiClient, progress: Callable[[int], None] | None = None
) -> int:
    """Insert rows whose (client, event_id) is not stored yet; returns how many were added.

    Each chunk is one transaction and skips rows already present, so a re-run after a
    crash, or a second import of the same file, adds nothing twice.
    """
    added = 0
    for start in range(0, len(frame), CHUNK):
        part = frame.iloc[start : start + CHUNK]
        rows = []
        for record in part.to_dict("records"):
            amount = _none_if_nan(record.get("amount"))
            label = _none_if_nan(record.get("is_fraud"))
            rows.append(
                Transaction(
                    client=client,
                    event_id=str(record["event_id"]),
                    account_id=str(record["account_id"]),
                    timestamp=record["timestamp"].to_pydatetime(),
                    amount=None if amount is None else Decimal(str(round(float(amount), 2))),
                    ip_address=_none_if_nan(record.get("ip_address")) or None,
                    latitude=_none_if_nan(record.get("latitude")),
                    longitude=_none_if_nan(record.get("longitude")),
                    session_duration=_none_if_nan(record.get("session_duration")),
                    account_created_at=(
                        None if _none_if_nan(record.get("account_created_at")) is None
                        else record["account_created_at"].to_pydatetime()
                    ),
                    is_fraud=None if label is None else bool(label),
                    label_known_at=(
                        None if label is None or _none_if_nan(record.get("label_known_at")) is None
                        else record["label_known_at"].to_pydatetime()
                    ),
                    label_source="import" if label is not None else "",
                    **{field: str(_none_if_nan(record.get(field)) or "") for field in _TEXT},
                )
            )
        with transaction.atomic():
            # An indexed look-up of this chunk's ids, not a count of the whole table.
            ids = [row.event_id for row in rows]
            present = Transaction.objects.filter(client=client, event_id__in=ids).count()
            Transaction.objects.bulk_create(rows, ignore_conflicts=True)
            added += len(set(ids)) - present
        if progress:
            progress(len(part))
    return added
