"""Point-in-time features: batch and online paths agree; no feature sees the future."""
from __future__ import annotations

from collections import defaultdict, deque
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ml.features import (
    EARTH_RADIUS_KM,
    FEATURE_NAMES,
    RING_MAX_ACCOUNTS,
    EntityRows,
    batch_features,
    epoch_ms,
    link_components,
    link_day,
    link_window_ms,
    online_features,
    to_epoch_ms,
)
from synthetic.generator import WorldConfig, generate_world
from tests.support.factories import small_world


def _replay_online(frame: pd.DataFrame) -> pd.DataFrame:
    """Feed events one at a time, in ingestion order, as the live scorer would: each sees
    the stored events of its account, device, IP and merchant within the window."""
    window = timedelta(days=30)
    stored: dict[tuple[str, str], deque] = defaultdict(deque)
    rows = []
    previous_of: dict[str, dict] = {}
    assert frame["timestamp"].is_monotonic_increasing  # lets the replay drop rows older than the window
    groups_of_day: dict[int, dict] = {}
    for position, record in enumerate(frame.to_dict("records")):
        t = record["timestamp"]

        def recent(kind: str, field: str) -> list[dict]:
            value = record.get(field) or ""
            if not value:
                return []
            rows_of = stored[(kind, value)]
            while rows_of and rows_of[0]["timestamp"] < t - window:
                rows_of.popleft()
            return list(rows_of)

        history = stored[("account", record["account_id"])]
        previous = history[-1] if history else previous_of.get(record["account_id"])
        in_window = recent("account", "account_id")
        day = link_day(epoch_ms(t))
        if day not in groups_of_day:  # the day's groups, from every event stored before it
            groups_of_day[day] = _day_groups(frame.head(position), day)
        entities = EntityRows(device=recent("device", "device_id"), ip=recent("ip", "ip_address"),
                              merchant=recent("merchant", "merchant_id"), link_groups=groups_of_day[day])
        rows.append(online_features(record, in_window, previous_event=previous, entities=entities))
        previous_of[record["account_id"]] = record
        for kind, field in (("account", "account_id"), ("device", "device_id"), ("ip", "ip_address"), ("merchant", "merchant_id")):
            if record.get(field):
                stored[(kind, record[field])].append(record)
    return pd.DataFrame(rows, index=frame.index)[list(FEATURE_NAMES)]


def _day_groups(stored: pd.DataFrame, day: int) -> dict:
    start, end = link_window_ms(day)
    t = to_epoch_ms(stored["timestamp"])
    window = stored[(t >= start) & (t < end)]
    return link_components(window["account_id"].tolist(), window["device_id"].tolist(), window["ip_address"].tolist())


@pytest.mark.slow
def test_online_features_equal_batch_features_on_20k_events():
    world = generate_world(WorldConfig(accounts=700, days=40, seed=5))
    frame = world.head(20_000).reset_index(drop=True)
    assert len(frame) == 20_000
    batch = batch_features(frame)
    online = _replay_online(frame)
    for name in FEATURE_NAMES:
        a, b = batch[name].to_numpy(), online[name].to_numpy()
        same_nan = np.isnan(a) == np.isnan(b)
        assert same_nan.all(), f"{name}: NaN pattern differs at rows {np.flatnonzero(~same_nan)[:5]}"
        mask = ~np.isnan(a)
        assert np.allclose(a[mask], b[mask], rtol=1e-6, atol=1e-6), name


def test_a_later_event_never_changes_earlier_features():
    world = small_world().head(3000).reset_index(drop=True)
    full = batch_features(world)
    prefix = batch_features(world.head(2000))
    pd.testing.assert_frame_equal(full.head(2000), prefix)


def test_velocity_counts_the_accounts_recent_events():
    base = pd.Timestamp("2026-11-01T12:00:00Z")
    frame = pd.DataFrame(
        {
            "account_id": ["a", "a", "a", "b"],
            "timestamp": [base, base + pd.Timedelta(minutes=10), base + pd.Timedelta(minutes=70), base],
            "amount": [10.0, 20.0, 300.0, 5.0],
        }
    )
    features = batch_features(frame)
    assert features["events_1h"].tolist() == [0, 1, 1, 0]
    assert features["events_24h"].tolist() == [0, 1, 2, 0]
    assert features["amount_mean_30d"].tolist()[2] == 15.0
    assert features["hours_since_prev_event"].tolist()[1] == 10 / 60


# --------------------------------------------------------------------------- leakage


def test_future_events_and_labels_never_change_earlier_features():
    world = small_world().head(3000).reset_index(drop=True)
    world["is_fraud"] = world["is_fraud"].astype("float64")
    before = batch_features(world).head(2000)
    rng = np.random.default_rng(3)
    future = world.index >= 2000
    perturbed = world.copy()
    for column in ("device_id", "ip_address", "merchant_id", "amount", "country", "payment_status"):
        perturbed.loc[future, column] = rng.permutation(perturbed.loc[future, column].to_numpy())
    perturbed.loc[future, "is_fraud"] = 1.0 - perturbed.loc[future, "is_fraud"]
    # Labels of future events become known right away: still after every earlier event.
    perturbed.loc[future, "label_known_at"] = perturbed.loc[future, "timestamp"]
    after = batch_features(perturbed).head(2000)
    pd.testing.assert_frame_equal(before, after)


def test_an_events_own_label_never_reaches_its_features():
    world = small_world().head(1500).reset_index(drop=True)
    world["is_fraud"] = world["is_fraud"].astype("float64")
    world["label_known_at"] = world["timestamp"]  # instant labels: the hardest case
    flipped = world.copy()
    flipped["is_fraud"] = 1.0 - flipped["is_fraud"]
    # Each row's features may depend on other rows' labels, so compare one row at a time
    # against a frame where only that row's label differs.
    base = batch_features(world)
    for row in (100, 700, 1400):
        one = world.copy()
        one.loc[row, "is_fraud"] = flipped.loc[row, "is_fraud"]
        pd.testing.assert_series_equal(batch_features(one).loc[row], base.loc[row])


def test_entity_fraud_rate_uses_only_labels_known_before_the_event():
    t0 = pd.Timestamp("2026-10-01T12:00:00Z")
    frame = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "timestamp": [t0, t0 + pd.Timedelta(days=1), t0 + pd.Timedelta(days=5), t0 + pd.Timedelta(days=40)],
            "device_id": ["dev-x"] * 4,
            "is_fraud": [1.0, np.nan, np.nan, np.nan],
            "label_known_at": [t0 + pd.Timedelta(days=5), pd.NaT, pd.NaT, pd.NaT],
        }
    )
    rate = batch_features(frame)["device_fraud_rate_30d"].tolist()
    assert np.isnan(rate[0]) and np.isnan(rate[1])  # the label is not known yet
    assert rate[2] == 1.0  # known exactly at this event's time
    assert np.isnan(rate[3])  # the labeled event left the 30-day window


def test_scenario_and_period_are_never_features():
    from ml.features import FEATURES

    assert not any({"scenario", "period"} & set(spec.inputs) for spec in FEATURES)
    world = small_world().head(1000).reset_index(drop=True)
    scrambled = world.assign(scenario=np.random.default_rng(1).permutation(world["scenario"].to_numpy()), period="x")
    pd.testing.assert_frame_equal(batch_features(world), batch_features(scrambled))


def test_linked_accounts_and_devices_count_the_window():
    t0 = pd.Timestamp("2026-10-01T00:00:00Z")
    hours = [0, 1, 2, 3, 24 * 31 + 3]
    frame = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "a", "a"],
            "timestamp": [t0 + pd.Timedelta(hours=h) for h in hours],
            "device_id": ["d1", "d1", "d2", "d2", "d1"],
            "ip_address": ["10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.1", "10.0.0.1"],
        }
    )
    f = batch_features(frame)
    assert f["accounts_on_device_30d"].tolist() == [0, 1, 0, 1, 0]
    assert f["distinct_devices_30d"].tolist() == [1, 1, 1, 2, 1]


def _ring_frame(rows: list[tuple[float, str, str, str]]) -> pd.DataFrame:
    t0 = pd.Timestamp("2026-10-01T00:00:00Z")
    return pd.DataFrame(
        [(t0 + pd.Timedelta(days=day), account, device, ip) for day, account, device, ip in rows],
        columns=["timestamp", "account_id", "device_id", "ip_address"],
    )


def test_ring_size_is_the_connected_group_of_the_days_before():
    frame = _ring_frame([
        # Day 0: a and b share d1, b and c share an IP, d shares nothing.
        (0.1, "a", "d1", "10.0.0.1"), (0.2, "b", "d1", "10.0.0.2"), (0.3, "c", "d2", "10.0.0.2"),
        (0.4, "d", "d9", "10.0.0.9"),
        (0.5, "e", "d2", ""),  # the same day: c's group is not known yet
        (1.5, "e", "d2", ""),  # next day: e's group is a, b, c and e
        (1.6, "d", "d1", ""),  # d's own group (d) and d1's (a, b, c, e)
        (1.7, "a", "d9", "10.0.0.1"),  # a's group and d9's (d)
        # Day 31: only day 1's links are left: d with d1, a with d9.
        (31.2, "d", "d9", ""),
    ])
    assert batch_features(frame)["ring_size_30d"].tolist() == [1, 1, 1, 1, 1, 4, 5, 5, 2]


def test_ring_size_never_counts_the_events_own_day_or_later_links():
    base = [(0.1, "a", "d1", "10.0.0.1"), (0.2, "b", "d1", "10.0.0.2"), (1.5, "c", "d1", "")]
    later = [(1.6, "x", "d1", ""), (1.7, "y", "d1", "10.0.0.1"), (3.0, "z", "d1", "")]
    sizes = batch_features(_ring_frame(base + later))["ring_size_30d"].tolist()
    assert sizes[:3] == batch_features(_ring_frame(base))["ring_size_30d"].tolist() == [1, 1, 3]
    assert sizes[3:] == [3, 3, 6]  # a, b, c, x, y and z itself on day 3


def test_a_device_or_ip_of_many_accounts_links_nobody():
    crowd = [(0.1, f"user-{k}", f"phone-{k}", "10.9.9.9") for k in range(RING_MAX_ACCOUNTS["i"] + 1)]
    pair = [(0.2, "a", "d1", ""), (0.3, "b", "d1", "")]
    frame = _ring_frame(crowd + pair + [(1.5, "user-0", "phone-0", "10.9.9.9"), (1.6, "a", "", "10.9.9.9")])
    sizes = batch_features(frame)["ring_size_30d"].tolist()
    assert sizes[-2:] == [1, 2]  # the crowded address joins nobody; a's own group is a and b


def test_the_generators_ring_accounts_share_one_group():
    """Each fraud ring of the generator (its accounts, joined by the devices only they
    use) is one group: from the day after its sign-ups its events see the whole ring."""
    world = generate_world(WorldConfig(accounts=3000, days=40, seed=5))
    ring = world[world["scenario"] == "fraud_ring"]
    accounts, devices = pd.factorize(ring["account_id"])[0], pd.factorize(ring["device_id"])[0]
    n = accounts.max() + 1
    graph = sparse.coo_matrix((np.ones(len(ring)), (accounts, n + devices)), shape=(n + devices.max() + 1,) * 2)
    _, member_of = connected_components(graph, directed=False)
    ring_of = member_of[accounts]
    members = np.bincount(member_of[:n])[ring_of]
    assert (np.bincount(member_of[:n]) >= 2).sum() >= 5, "the sample should hold several rings"
    first_seen = ring.groupby(ring_of)["timestamp"].transform("min")
    settled = (ring["timestamp"] - first_seen >= pd.Timedelta(days=2)).to_numpy()
    sizes = batch_features(world).loc[ring.index, "ring_size_30d"].to_numpy()
    assert settled.sum() > 100
    assert (sizes[settled] >= members[settled]).mean() > 0.95
    assert np.median(sizes[settled] / members[settled]) == 1.0


def test_location_spread_is_the_spread_of_the_accounts_earlier_locations():
    t0 = pd.Timestamp("2026-10-01T00:00:00Z")
    frame = pd.DataFrame(
        {
            "account_id": ["a", "a", "a", "a", "a"],
            "timestamp": [t0 + pd.Timedelta(days=d) for d in (0, 1, 2, 3, 40)],
            # Two places 0.09° of longitude (10 km) apart on the equator, then far away.
            "latitude": [0.0, 0.0, 45.0, 0.0, 0.0],
            "longitude": [0.0, 0.09, 90.0, 0.0, 0.0],
        }
    )
    spread = batch_features(frame)["location_spread_km_30d"].tolist()
    assert np.isnan(spread[0]) and np.isnan(spread[1])  # fewer than two earlier locations
    # Two points sit half their distance from their centre; the event's own far-away
    # location is not counted.
    assert spread[2] == pytest.approx(0.09 * np.pi / 180 * EARTH_RADIUS_KM / 2, rel=1e-6)
    assert spread[3] > 4000  # the far-away event is history now
    assert np.isnan(spread[4])  # nothing in the last 30 days
    online = online_features(frame.iloc[2].to_dict(), frame.head(2).to_dict("records"))
    assert online["location_spread_km_30d"] == pytest.approx(spread[2], rel=1e-9)


def test_big_batches_compute_the_linked_features_in_a_forked_process_with_the_same_values(monkeypatch, caplog):
    from core import forked
    from ml import features
    frame = small_world().head(4000).reset_index(drop=True)
    in_process = batch_features(frame)
    started = []
    real_start = forked.multiprocessing.context.ForkProcess.start
    monkeypatch.setattr(forked.multiprocessing.context.ForkProcess, "start",
                        lambda self: (started.append(self.name), real_start(self))[1])
    monkeypatch.setattr(features, "FORK_MIN_ROWS", 1000)
    unforked = batch_features(frame)  # as a web or Celery worker computes them
    assert started == []
    pd.testing.assert_frame_equal(unforked, in_process)
    side_by_side = batch_features(frame, parallel=True)
    assert started == ["batch-features"]
    assert "computing its features here" not in caplog.text  # the child's columns were used
    pd.testing.assert_frame_equal(side_by_side, in_process)
