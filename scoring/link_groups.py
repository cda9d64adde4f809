"""Daily link groups: which accounts are joined through shared devices and IP addresses.

`ring_size_30d` of an event on UTC day D counts the accounts of the groups of its account,
device and IP in the graph of the links (account–device, account–IP) of the events of the
30 days before D (`features.link_components`). The graph of a day is computed once — by the
beat task shortly after midnight UTC, or by the first request that needs it, under an
advisory lock so that concurrent requests compute it once — and stored per node
(`LinkGroup`). Scoring then reads three rows per event, whatever the size of the history.

A day's groups are frozen when computed: an event stored later with an earlier timestamp
reaches them only through an import, which drops the groups of the days after it.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable

from django.db import connection, transaction

from ml.features import MS_PER_DAY, link_components, link_window_ms
from scoring.models import LinkGroup, LinkSnapshot
from triage.models import Transaction

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# pg_advisory_xact_lock(namespace, day): one lock per day, apart from other advisory locks.
_LOCK_NAMESPACE = 0x4C4B
_INSERT_SQL = f"""
    INSERT INTO {LinkGroup._meta.db_table} (day, node, component, accounts)
    SELECT %(day)s, * FROM unnest(%(nodes)s::text[], %(components)s::int[], %(accounts)s::int[])
"""


def day_date(day: int) -> date:
    """A day as days since the epoch (`features.link_day`) to a date."""
    return _EPOCH.date() + timedelta(days=day)


def day_number(value: date) -> int:
    """A date to days since the epoch, the inverse of `day_date`."""
    return (value - _EPOCH.date()).days


def link_snapshots_ensure(*, days: Iterable[int]) -> list[int]:
    """Compute the link groups of the `days` not stored yet; returns the days computed."""
    wanted = sorted(set(days))
    stored = {day_number(d) for d in LinkSnapshot.objects.filter(day__in=[day_date(d) for d in wanted]).values_list("day", flat=True)}
    return [day for day in wanted if day not in stored and link_snapshot_compute(day=day)]


def link_snapshot_compute(*, day: int) -> bool:
    """Compute and store the link groups of `day` unless they are stored; True if computed.

    One transaction: readers see a day's groups whole or not at all, and the lock makes a
    second caller wait for the first one's groups instead of computing them again."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, day])
        if LinkSnapshot.objects.filter(day=day_date(day)).exists():
            return False
        start, end = (_EPOCH + timedelta(milliseconds=ms) for ms in link_window_ms(day))
        links = list(
            Transaction.objects.filter(timestamp__gte=start, timestamp__lt=end)
            .values_list("account_id", "device_id", "ip_address")
            .distinct()
        )
        groups = link_components(*(_texts(column) for column in zip(*links))) if links else {}
        _store_groups(day, groups)
        LinkSnapshot.objects.create(day=day_date(day), links=len(links))
    return True


def link_snapshots_forget(*, after: datetime) -> int:
    """Drop the stored groups of the days after `after` (events timed then were stored
    late: the groups of later days must be computed again); returns the days dropped."""
    first = day_date(int((after - _EPOCH) / timedelta(milliseconds=1)) // MS_PER_DAY + 1)
    LinkGroup.objects.filter(day__gte=first).delete()
    return LinkSnapshot.objects.filter(day__gte=first).delete()[0]


def link_snapshots_prune(*, keep_from: int) -> int:
    """Drop the stored groups of days before `keep_from`; returns the days dropped."""
    LinkGroup.objects.filter(day__lt=day_date(keep_from)).delete()
    return LinkSnapshot.objects.filter(day__lt=day_date(keep_from)).delete()[0]


def _texts(column: Iterable[object]) -> list[str]:
    return ["" if value is None else str(value) for value in column]


def _store_groups(day: int, groups: dict[str, tuple[int, int]]) -> None:
    if connection.vendor == "postgresql":  # one statement: a day at scale has 100,000s of nodes
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_SQL, {
                "day": day_date(day), "nodes": list(groups),
                "components": [c for c, _ in groups.values()], "accounts": [a for _, a in groups.values()],
            })
        return
    LinkGroup.objects.bulk_create(
        [LinkGroup(day=day_date(day), node=node, component=c, accounts=a) for node, (c, a) in groups.items()],
        batch_size=2000,
    )
