"""Reads for scoring and training: event tables as pandas frames, account histories."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from django.db import connection

from core.db.prepared import fetch_prepared
from ml.features import (
    DEFAULT_LABEL_DELAY_MS,
    ENTITY_ROWS_CAP,
    ENTITY_WINDOW_MS,
    HISTORY_WINDOW_MS,
    LEARNED_WINDOW_MS,
    MIN_LABEL_DELAY_MS,
    epoch_ms,
)
from scoring.entity_stats import (
    EntityHistory,
    entity_history_for,
    entity_key,
    event_link_days,
    event_link_nodes,
    link_groups_read_orm,
)
from scoring.link_groups import day_date, link_snapshots_ensure
from triage.models import Transaction

HISTORY_FIELDS = (
    "id", "account_id", "timestamp", "amount", "payment_status", "device_id", "ip_address",
    "latitude", "longitude", "session_duration", "merchant_id", "account_created_at",
    "country", "event_type",
)
FRAME_COLUMNS = (
    "id", "event_id", "account_id", "timestamp", "event_type", "amount", "currency", "payment_status",
    "device_id", "ip_address", "latitude", "longitude", "country", "session_duration", "merchant_id",
    "category", "account_created_at", "is_fraud", "label_known_at", "attributes",
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

    Rows carry HISTORY_FIELDS plus `client_id` and `event_id`. The portable version of
    the account part of `scoring_context` (which reads it in one statement on PostgreSQL).
    """
    accounts = sorted(set(account_ids))
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fields = (*HISTORY_FIELDS, "client_id", "event_id", "is_fraud", "label_known_at")
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


# The live path reads timestamps as integer milliseconds and keeps them so: parsing tens
# of thousands of timestamp strings per batch costs more than scoring it. Features work
# at millisecond resolution, truncated like `features.epoch_ms`, so nothing changes.
_SQL_EXPRESSIONS = {
    "timestamp": "floor(extract(epoch FROM t.timestamp) * 1000)::bigint",
    "amount": "t.amount::float8",
    "ip_address": "host(t.ip_address)",
    "account_created_at": "NULL::bigint",  # only the incoming event's sign-up time is used
    "label_known_at": "floor(extract(epoch FROM t.label_known_at) * 1000)::bigint",
}
# Account rows and entity rows share one column list so one statement returns both.
_CONTEXT_NAMES = (*HISTORY_FIELDS, "client_id", "event_id", "is_fraud", "label_known_at")
_CONTEXT_COLUMNS = ", ".join(_SQL_EXPRESSIONS.get(name, f"t.{name}") for name in _CONTEXT_NAMES)
# The stored link groups of the request's nodes on each of its days, and whether a day is
# stored at all (a day not stored yet must be computed first): a primary key lookup per
# node and day. Rows: day (days since the epoch), stored, node, group number, accounts.
_LINK_GROUPS_FROM = """
    FROM unnest(%(link_days)s::date[]) AS q(day)
    LEFT JOIN scoring_linksnapshot s ON s.day = q.day
    LEFT JOIN scoring_linkgroup g ON g.day = q.day AND g.node = ANY(%(link_nodes)s::text[])
"""
# In the context statement (part 'g') the five travel in the context columns named here.
_LINK_GROUP_COLUMNS = {
    "timestamp": "(q.day - DATE '1970-01-01')::bigint", "is_fraud": "s.day IS NOT NULL", "account_id": "g.node",
    "id": "g.component::bigint", "amount": "g.accounts::float8",
}
_LINK_GROUPS_SQL = f"SELECT {', '.join(_LINK_GROUP_COLUMNS.values())} {_LINK_GROUPS_FROM}"
# kind: 'a' = the account's window, 'p' = its latest event before the window,
# 'd' / 'i' = the window of a device / IP used by other accounts: the request's own
# accounts' rows come once, in part 'a'. Each part is an index range scan ((account|device|
# ip), timestamp), so the cost follows the recent activity of the request's accounts and
# entities, not the table size. Merchants are read apart (below): only their labels count.
# A hub (a shop's shared terminal, a carrier's address, an attacker's tool) can have tens
# of thousands of other accounts' events in a month; live scoring reads only its latest
# ENTITY_ROWS_CAP of them, so one hub cannot slow everyone (the counts then say "at least"):
# the latest ids first (a narrow sort), then those rows' columns.
# 'g' = the link groups of the request's days (`_LINK_GROUPS_FROM`), in the same statement
# to save single events a round trip; the vectorised path asks for none (no days).
_CONTEXT_SQL = f"""
    SELECT h.* FROM unnest(%(accounts)s::text[]) AS a(account_id) CROSS JOIN LATERAL (
        (SELECT 'a' AS kind, {_CONTEXT_COLUMNS} FROM triage_transaction t
         WHERE t.account_id = a.account_id AND t.timestamp >= %(since)s AND t.timestamp <= %(until)s)
        UNION ALL
        (SELECT 'p', {_CONTEXT_COLUMNS} FROM triage_transaction t
         WHERE t.account_id = a.account_id AND t.timestamp < %(since)s
         ORDER BY t.timestamp DESC, t.id DESC LIMIT 1)
    ) AS h
    UNION ALL
    SELECT 'd', {_CONTEXT_COLUMNS} FROM unnest(%(devices)s::text[]) AS e(device_id) CROSS JOIN LATERAL (
        SELECT t.id FROM triage_transaction t
        WHERE t.device_id = e.device_id AND t.account_id <> ALL(%(accounts)s::text[])
          AND t.timestamp >= %(entity_since)s AND t.timestamp <= %(until)s
        ORDER BY t.timestamp DESC LIMIT {ENTITY_ROWS_CAP}) AS d JOIN triage_transaction t ON t.id = d.id
    UNION ALL
    SELECT 'i', {_CONTEXT_COLUMNS} FROM unnest(%(ips)s::inet[]) AS e(ip_address) CROSS JOIN LATERAL (
        SELECT t.id FROM triage_transaction t
        WHERE t.ip_address = e.ip_address AND t.account_id <> ALL(%(accounts)s::text[])
          AND t.timestamp >= %(entity_since)s AND t.timestamp <= %(until)s
        ORDER BY t.timestamp DESC LIMIT {ENTITY_ROWS_CAP}) AS i JOIN triage_transaction t ON t.id = i.id
    UNION ALL
    SELECT 'g', {", ".join(_LINK_GROUP_COLUMNS.get(name, "NULL") for name in _CONTEXT_NAMES)} {_LINK_GROUPS_FROM}
"""
# Every part looks entities up one value at a time (a lateral join over the request's
# values, kept apart by OFFSET 0), so the plan PostgreSQL caches for the prepared statement,
# made without the parameters' values, walks the (entity, timestamp) indexes. The connection
# runs prepared statements with that generic plan only (config/settings/database.py): one
# made for a hub's value read all its index entries before taking the newest cap of them. With
# `= ANY(array)` and a time range it guessed the range tiny and walked the timestamp index,
# filtering half of a small table.
# A batch's merchants: the labeled events of each (every account's) in the window, as four
# compact columns, from the covering index alone. A busy merchant has thousands a month.
_MERCHANT_LABEL_ROWS_SQL = f"""
    SELECT m.* FROM unnest(%(merchants)s::text[]) AS e(merchant_id) CROSS JOIN LATERAL (
        SELECT t.merchant_id, {_SQL_EXPRESSIONS["timestamp"]}, {_SQL_EXPRESSIONS["label_known_at"]}, t.is_fraud
        FROM triage_transaction t
        WHERE t.merchant_id = e.merchant_id AND t.is_fraud IS NOT NULL
          AND t.timestamp >= %(entity_since)s AND t.timestamp <= %(until)s OFFSET 0) AS m
"""
# The per-event path needs of a merchant only two numbers per event: its labels in the
# window known by the event's time, and how many were fraud (`features._online_entity_features`).
# A busy merchant has thousands of labeled events a month: counting them here costs far less
# than sending them and looping over them in Python. The millisecond rules of the features
# (an event at t counts when t - window <= T <= t and max(K or T + default delay, T + min
# delay) <= t, with T and K truncated to ms) are written as plain timestamp comparisons
# against hi = t + 1 ms, which the index range serves and no per-row arithmetic slows.
# Learned at or after q.learned (= t - LEARNED_WINDOW): the label's time in ms, max(K, or
# T + default delay, T + min delay), is >= t - window; truncation to ms turns each part
# into a plain comparison of the stored times.
_LEARNED_LATELY = f"""(CASE WHEN t.label_known_at IS NULL
        THEN t.timestamp >= q.learned - {DEFAULT_LABEL_DELAY_MS} * interval '1 millisecond'
        ELSE t.label_known_at >= q.learned OR t.timestamp >= q.learned - {MIN_LABEL_DELAY_MS} * interval '1 millisecond' END)"""
_MERCHANT_LABELS_SQL = f"""
    SELECT q.merchant_id, q.at_ms, c.known, c.fraud, c.known_lately, c.fraud_lately
    FROM unnest(%(merchants)s::text[], %(at_ms)s::bigint[], %(lo)s::timestamptz[], %(hi)s::timestamptz[],
                %(learned)s::timestamptz[])
         AS q(merchant_id, at_ms, lo, hi, learned)
    CROSS JOIN LATERAL (
        SELECT count(*) AS known, count(*) FILTER (WHERE t.is_fraud) AS fraud,
               count(*) FILTER (WHERE {_LEARNED_LATELY}) AS known_lately,
               count(*) FILTER (WHERE t.is_fraud AND {_LEARNED_LATELY}) AS fraud_lately
        FROM triage_transaction t
        WHERE t.merchant_id = q.merchant_id AND t.is_fraud IS NOT NULL
          AND t.timestamp >= q.lo AND t.timestamp < q.hi
          AND t.timestamp < q.hi - {MIN_LABEL_DELAY_MS} * interval '1 millisecond'
          AND CASE WHEN t.label_known_at IS NULL THEN t.timestamp < q.hi - {DEFAULT_LABEL_DELAY_MS} * interval '1 millisecond'
                   ELSE t.label_known_at < q.hi END
    ) AS c
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Numeric columns of the vectorised path's frame (NULL -> NaN); the rest are text / objects.
_FRAME_DTYPES = {"id": np.int64, "timestamp": np.int64, "amount": np.float64, "latitude": np.float64,
                 "longitude": np.float64, "session_duration": np.float64, "account_created_at": np.float64,
                 "is_fraud": np.float64, "label_known_at": np.float64}
# Part 'a' covers the entity window of the request's own accounts only if it is as long.
assert ENTITY_WINDOW_MS <= HISTORY_WINDOW_MS
_ENTITY_KINDS = {"d": ("device", "device_id"), "i": ("ip", "ip_address"), "m": ("merchant", "merchant_id")}


@dataclass
class ScoringContext:
    """What scoring a request reads: each account's window and previous event, and the
    stored rows of its devices, IPs and merchants (as an `EntityHistory`)."""

    histories: dict[str, list[dict[str, Any]]]
    previous: dict[str, dict[str, Any]]
    entities: EntityHistory


def scoring_context(events: Sequence[Mapping[str, Any]]) -> ScoringContext:
    """Everything the online features of `events` need, in one statement on PostgreSQL.

    There, rows keep `timestamp` and `label_known_at` as epoch milliseconds, the unit the
    features compute in (`features.epoch_ms` takes both): making a datetime of each of
    a request's stored rows cost more than the features themselves."""
    if connection.vendor != "postgresql":
        since, until = _bounds(events)
        histories, previous = account_histories(account_ids=[e["account_id"] for e in events], since=since, until=until)
        return ScoringContext(histories, previous, entity_history_for(events))
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    previous: dict[str, dict[str, Any]] = {}
    entity_rows: dict[str, dict[str, list[dict[str, Any]]]] = {kind: defaultdict(list) for kind, _ in _ENTITY_KINDS.values()}
    by_id: dict[int, dict[str, Any]] = {}  # an event found by several parts is one shared row
    # Merchants are counted by the database (`_merchant_labels`), so no merchant rows here.
    linked = [(name, field) for name, field in _ENTITY_KINDS.values() if name != "merchant"]
    wanted = {name: set(_entity_values(events, field)) for name, field in linked}
    group_rows = []
    for kind, *values in _context_rows(events, with_link_groups=True):
        if kind == "g":
            group_rows.append(tuple(values[_CONTEXT_NAMES.index(name)] for name in _LINK_GROUP_COLUMNS))
            continue
        row = by_id.get(values[0])
        if row is None:
            row = by_id[values[0]] = dict(zip(_CONTEXT_NAMES, values))
        if kind == "a":
            histories[row["account_id"]].append(row)
            for name, field in linked:  # the entity parts leave these rows out
                key = entity_key(row[field])
                if key in wanted[name]:
                    entity_rows[name][key].append(row)
        elif kind == "p":
            previous[row["account_id"]] = row
        else:
            name, field = _ENTITY_KINDS[kind]
            entity_rows[name][entity_key(row[field])].append(row)
    order = lambda r: (r["timestamp"], r["id"])  # noqa: E731
    for groups in (histories, *entity_rows.values()):
        for rows in groups.values():
            rows.sort(key=order)
    link_groups = _link_groups_from(events, group_rows)
    entities = EntityHistory(entity_rows, merchant_labels=_merchant_labels(events), link_groups=link_groups)
    return ScoringContext(histories, previous, entities)


def scoring_rows_frame(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The same stored rows as `scoring_context`, each once, as one DataFrame for the
    vectorised path; `timestamp` and `label_known_at` in epoch milliseconds. Merchant
    labels come apart, from `merchant_label_rows`.

    On PostgreSQL the fetched tuples go straight into the frame: a 1,000-event batch
    reads tens of thousands of rows, and a dict and two datetimes per row cost more than
    computing the features from them."""
    if connection.vendor == "postgresql":
        rows = _context_rows(events, with_link_groups=False)
        columns = list(zip(*rows)) if rows else [()] * (len(_CONTEXT_NAMES) + 1)
        # Column by column with fixed types: pandas' per-value type inference costs more
        # than everything else here. Text stays plain Python objects (an explicit object
        # dtype): pandas would otherwise copy every text column into Arrow strings.
        frame = pd.DataFrame({
            name: pd.Series(values, dtype=_FRAME_DTYPES.get(name, object))
            for name, values in zip(_CONTEXT_NAMES, columns[1:])
        })
        frame = frame.drop_duplicates("id", ignore_index=True)  # a row found by two parts comes once
    else:
        context = scoring_context(events)
        rows = {r["id"]: r for group in (*context.histories.values(), context.previous.values(),
                                         *context.entities.stored_rows()) for r in group}
        frame = pd.DataFrame.from_records(list(rows.values()), columns=list(_CONTEXT_NAMES))
        frame["timestamp"] = [epoch_ms(t) for t in frame["timestamp"]]
        for name in ("label_known_at", "account_created_at"):  # pandas turns a missing time into NaT
            frame[name] = [math.nan if pd.isna(v) else float(epoch_ms(v)) for v in frame[name]]
    return frame


def _bounds(events: Sequence[Mapping[str, Any]]) -> tuple[datetime, datetime]:
    times = [e["timestamp"] for e in events]
    return min(times) - history_window(), max(times)


def _entity_values(events: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    return sorted({entity_key(e.get(field)) for e in events} - {""})


def _context_rows(events: Sequence[Mapping[str, Any]], *, with_link_groups: bool) -> list[tuple]:
    return fetch_prepared(_CONTEXT_SQL, _context_params(events, with_link_groups=with_link_groups))


def _context_params(events: Sequence[Mapping[str, Any]], *, with_link_groups: bool) -> dict[str, Any]:
    since, until = _bounds(events)
    return {
        "accounts": sorted({e["account_id"] for e in events}), "since": since, "until": until,
        "entity_since": _entity_since(events),
        "devices": _entity_values(events, "device_id"), "ips": _entity_values(events, "ip_address"),
        **(_link_params(events) if with_link_groups else {"link_days": [], "link_nodes": []}),
    }


def _link_params(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"link_days": [day_date(d) for d in sorted(event_link_days(events))], "link_nodes": event_link_nodes(events)}


def _entity_since(events: Sequence[Mapping[str, Any]]) -> datetime:
    return min(e["timestamp"] for e in events) - timedelta(milliseconds=ENTITY_WINDOW_MS)


def merchant_label_rows(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The labeled events of the request's merchants in the entity window before its events,
    every account's: merchant_id, timestamp and label_known_at (epoch ms, NaN when not
    recorded), is_fraud. What the vectorised path counts a merchant's fraud rate from."""
    columns = ["merchant_id", "timestamp", "label_known_at", "is_fraud"]
    merchants = _entity_values(events, "merchant_id")
    params = {"merchants": merchants, "entity_since": _entity_since(events), "until": _bounds(events)[1]}
    if not merchants:
        rows: list[tuple] = []
    elif connection.vendor == "postgresql":
        rows = fetch_prepared(_MERCHANT_LABEL_ROWS_SQL, params)
    else:
        rows = [
            (m, epoch_ms(t), None if k is None else epoch_ms(k), f)
            for m, t, k, f in Transaction.objects.filter(
                merchant_id__in=merchants, is_fraud__isnull=False,
                timestamp__gte=params["entity_since"], timestamp__lte=params["until"],
            ).values_list(*columns)
        ]
    values = list(zip(*rows)) if rows else [()] * 4
    return pd.DataFrame({
        "merchant_id": pd.Series(np.array(values[0], dtype=object), dtype=object),
        "timestamp": np.array(values[1], dtype=np.int64),
        "label_known_at": np.array(values[2], dtype=np.float64),  # None -> NaN
        "is_fraud": np.array(values[3], dtype=np.float64),
    })


def _merchant_labels(events: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    """(labels known, fraud, both again for those learned in the last LEARNED_WINDOW) of
    each event's merchant at the event's time, keyed by
    (merchant, epoch ms): one index range count per event, in one statement."""
    pairs = sorted({(entity_key(e.get("merchant_id")), epoch_ms(e["timestamp"])) for e in events if e.get("merchant_id")})
    if not pairs:
        return {}
    one_ms = timedelta(milliseconds=1)
    params = {
        "merchants": [m for m, _ in pairs], "at_ms": [at for _, at in pairs],
        "lo": [_EPOCH + (at - ENTITY_WINDOW_MS) * one_ms for _, at in pairs],
        "hi": [_EPOCH + (at + 1) * one_ms for _, at in pairs],
        "learned": [_EPOCH + (at - LEARNED_WINDOW_MS) * one_ms for _, at in pairs],
    }
    return {(merchant, at): tuple(counts) for merchant, at, *counts in fetch_prepared(_MERCHANT_LABELS_SQL, params)}


def link_groups_read(events: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, tuple[int, int]]]:
    """`entity_stats.link_groups_read_orm`, in one statement on PostgreSQL when the days are stored."""
    if connection.vendor != "postgresql":
        return link_groups_read_orm(events)
    return _link_groups_from(events, fetch_prepared(_LINK_GROUPS_SQL, _link_params(events)))


def _link_groups_from(events: Sequence[Mapping[str, Any]], rows: Sequence[tuple]) -> dict[int, dict[str, tuple[int, int]]]:
    """The events' link groups per day from rows of `_LINK_GROUP_COLUMNS` (day, stored,
    node, group, accounts); days not stored yet are computed first and read again."""
    missing = [day for day, stored, *_ in rows if not stored]
    if missing:
        link_snapshots_ensure(days=missing)
        rows = fetch_prepared(_LINK_GROUPS_SQL, _link_params(events))
    found: dict[int, dict[str, tuple[int, int]]] = {}
    for day, _, node, component, accounts in rows:
        groups = found.setdefault(day, {})
        if node is not None:
            groups[node] = (int(component), int(accounts))
    return found


def history_window() -> timedelta:
    return timedelta(milliseconds=HISTORY_WINDOW_MS)
