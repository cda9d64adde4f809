"""The recent events of the devices, IP addresses and merchants a request's events use.

Live scoring needs, besides the account's own history, the last 30 days of each entity
the event touches (who else used this device or IP, which of its labels are known).
On PostgreSQL `scoring.selectors.scoring_context` reads them in the same statement as the
accounts' histories; `entity_history_for` is the portable reader, one indexed range query
per entity kind. Both are limited to the window, so the cost follows the entities' recent
activity, never the table size.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any, Mapping, Sequence

from ml.features import ENTITY_ROWS_CAP, ENTITY_WINDOW_MS, NODE_FIELDS, EntityRows, epoch_ms, link_day, link_node
from scoring.link_groups import day_date, day_number, link_snapshots_ensure
from scoring.models import LinkGroup
from triage.models import Transaction

# Stored groups per day (days since the epoch), per node: (group number, accounts in it).
DayGroups = Mapping[int, Mapping[str, tuple[int, int]]]

ENTITY_FIELDS = ("id", "account_id", "timestamp", "device_id", "ip_address", "merchant_id", "is_fraud", "label_known_at")
# Which stored column each entity kind is, and whether unlabeled rows matter for it.
KINDS = (("device", "device_id", False), ("ip", "ip_address", False), ("merchant", "merchant_id", True))


class EntityHistory:
    """Stored entity rows for one request, plus the request's own earlier events."""

    def __init__(
        self,
        rows: Mapping[str, Mapping[str, list[dict[str, Any]]]],
        merchant_labels: Mapping[tuple[str, int], tuple[int, int, int, int]] | None = None,
        link_groups: DayGroups | None = None,
    ):
        """`merchant_labels`, when given, replaces merchant rows: (labels known, fraud, and
        the same two for labels learned in the last LEARNED_WINDOW) per
        (merchant, event time in epoch ms), counted by the database. `link_groups` holds
        the stored link groups of the events' days (`link_groups_read_orm`)."""
        self._rows = {kind: defaultdict(list, by_value) for kind, by_value in rows.items()}
        self._merchant_labels = merchant_labels
        self._link_groups = link_groups

    def rows_for(self, event: Mapping[str, Any]) -> EntityRows:
        t = epoch_ms(event["timestamp"])  # rows hold datetimes or epoch ms (see scoring_context)
        lo = t - ENTITY_WINDOW_MS

        def recent(kind: str, field: str) -> list[dict[str, Any]]:
            value = entity_key(event.get(field))
            if not value:
                return []
            return [r for r in self._rows[kind].get(value, ()) if lo <= epoch_ms(r["timestamp"]) <= t]

        groups = None if self._link_groups is None else self._link_groups.get(link_day(t), {})
        if self._merchant_labels is None:
            return EntityRows(
                device=recent("device", "device_id"), ip=recent("ip", "ip_address"), merchant=recent("merchant", "merchant_id"),
                link_groups=groups,
            )
        merchant = entity_key(event.get("merchant_id"))
        return EntityRows(
            device=recent("device", "device_id"), ip=recent("ip", "ip_address"),
            merchant_labels=self._merchant_labels.get((merchant, t), (0, 0, 0, 0)) if merchant else None, link_groups=groups,
        )

    def stored_rows(self) -> list[list[dict[str, Any]]]:
        """The stored rows of every device, IP and merchant, one list per entity (rows repeat)."""
        return [rows for by_value in self._rows.values() for rows in by_value.values()]

    def add(self, event: Mapping[str, Any]) -> None:
        """Let later events of the same request see this one (it has no label yet)."""
        row = {field: event.get(field) for field in ENTITY_FIELDS if field != "id"}
        row.update(is_fraud=None, label_known_at=None)
        for kind, field, labeled_only in KINDS:
            value = entity_key(event.get(field))
            if value and not labeled_only:
                self._rows[kind][value].append(row)


def entity_history_for(events: Sequence[Mapping[str, Any]]) -> EntityHistory:
    """Fetch the window of stored events for every device, IP and merchant in `events`."""
    if not events:
        return EntityHistory({kind: {} for kind, _, _ in KINDS}, link_groups={})
    times = [e["timestamp"] for e in events]
    since = min(times) - timedelta(milliseconds=ENTITY_WINDOW_MS)
    until = max(times)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind, field, labeled_only in KINDS:
        values = sorted({entity_key(e.get(field)) for e in events} - {""})
        by_value: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if values:
            query = Transaction.objects.filter(**{f"{field}__in": values, "timestamp__gte": since, "timestamp__lte": until})
            if labeled_only:  # merchants: every label counts (PostgreSQL counts them in the database)
                for row in query.filter(is_fraud__isnull=False).order_by("timestamp", "id").values(*ENTITY_FIELDS):
                    by_value[entity_key(row[field])].append(row)
            else:
                for value in values:  # each device's / IP's latest ENTITY_ROWS_CAP (`selectors._CONTEXT_SQL`)
                    latest = query.filter(**{field: value}).order_by("-timestamp", "-id").values(*ENTITY_FIELDS)
                    by_value[value].extend(reversed(latest[:ENTITY_ROWS_CAP]))
        rows[kind] = by_value
    return EntityHistory(rows, link_groups=link_groups_read_orm(events))


def link_groups_read_orm(events: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, tuple[int, int]]]:
    """The stored link groups of the events' accounts, devices and IPs on each event's UTC
    day (computing the days not stored yet), per day: {node: (group number, accounts)}.
    The portable reader; `selectors.link_groups_read` reads them in one statement on PostgreSQL."""
    days = sorted(event_link_days(events))
    link_snapshots_ensure(days=days)
    found: dict[int, dict[str, tuple[int, int]]] = {day: {} for day in days}
    stored = LinkGroup.objects.filter(day__in=[day_date(d) for d in days], node__in=event_link_nodes(events))
    for day, node, component, accounts in stored.values_list("day", "node", "component", "accounts"):
        found[day_number(day)][node] = (component, accounts)
    return found


def event_link_days(events: Sequence[Mapping[str, Any]]) -> set[int]:
    return {link_day(epoch_ms(e["timestamp"])) for e in events}


def event_link_nodes(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The link-graph nodes of the events: their accounts, devices and IP addresses."""
    nodes = {
        link_node(kind, entity_key(e.get(field)))
        for e in events for kind, field in NODE_FIELDS
        if entity_key(e.get(field))
    }
    return sorted(nodes)


def entity_key(value: Any) -> str:
    return "" if value is None else str(value)


