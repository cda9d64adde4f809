"""Daily link groups for the ring size: computed once per day, read by live scoring."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from ml.features import epoch_ms, link_components, link_day, link_window_ms, to_epoch_ms
from scoring.models import LinkGroup, LinkSnapshot
from tests.support.factories import small_world
from tests.support.worlds import stored_row_event

pytestmark = pytest.mark.django_db
STORED = 2500


def _load(frame: pd.DataFrame) -> None:
    from accounts.services import import_source_get_or_create
    from scoring.store.events import events_load

    events_load(frame=frame, client=import_source_get_or_create(name="history"))


def stored_small_world() -> tuple[pd.DataFrame, list[dict]]:
    frame = small_world().head(STORED + 50).reset_index(drop=True)
    _load(frame.head(STORED))
    return frame, [stored_row_event(r) for r in frame.tail(50).to_dict("records")]


def test_the_first_request_of_a_day_stores_the_days_groups_once():
    from scoring.link_groups import link_snapshots_ensure
    from scoring.selectors import link_groups_read

    frame, incoming = stored_small_world()
    day = link_day(epoch_ms(incoming[0]["timestamp"]))
    assert not LinkSnapshot.objects.exists()
    found = link_groups_read(incoming)
    assert LinkSnapshot.objects.count() == len(found) >= 1
    start, end = link_window_ms(day)
    t = to_epoch_ms(frame["timestamp"])
    window = frame[(t >= start) & (t < end)]
    expected = link_components(window["account_id"].tolist(), window["device_id"].tolist(), window["ip_address"].tolist())
    assert LinkGroup.objects.filter(day=LinkSnapshot.objects.get().day).count() == len(expected)
    assert found[day] and all(expected[node][1] == accounts for node, (_, accounts) in found[day].items())
    assert link_snapshots_ensure(days=[day]) == []  # stored: not computed again


def test_an_import_of_earlier_events_drops_the_groups_of_later_days():
    from scoring.selectors import link_groups_read

    frame, incoming = stored_small_world()
    link_groups_read(incoming)
    day = LinkSnapshot.objects.get().day
    same_day = frame.tail(1).assign(event_id="late-same-day")
    _load(same_day)  # timed on the day itself: the day's groups do not include it anyway
    assert LinkSnapshot.objects.filter(day=day).exists()
    earlier = frame.tail(1).assign(event_id="late-day-before", timestamp=frame["timestamp"].iloc[-1] - timedelta(days=1))
    _load(earlier)
    assert not LinkSnapshot.objects.exists() and not LinkGroup.objects.exists()


def test_the_nightly_task_computes_today_and_drops_old_days():
    from scoring.link_groups import link_snapshots_ensure
    from scoring.tasks import compute_link_groups

    stored_small_world()
    today = link_day(epoch_ms(timezone.now()))
    link_snapshots_ensure(days=[today - 5, today - 1])
    assert compute_link_groups() == "computed 1 day, dropped 1 days"
    kept = LinkSnapshot.objects.values_list("day", flat=True)
    assert sorted((d - timezone.now().date()).days for d in kept) == [-1, 0]
