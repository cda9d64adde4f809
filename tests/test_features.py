"""Point-in-time features: batch and online paths agree; no feature sees the future."""
from __future__ import annotations

from collections import defaultdict, deque
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from scoring.features import EARTH_RADIUS_KM, FEATURE_NAMES, EntityRows, batch_features, online_features
from scoring.generator import WorldConfig, generate_world
from tests.conftest import small_world


def _replay_online(frame: pd.DataFrame) -> pd.DataFrame:
    """Feed events one at a time, in ingestion order, as the live scorer would: each sees
    the stored events of its account, device, IP and merchant within the window."""
    window = timedelta(days=30)
    stored: dict[tuple[str, str], deque] = defaultdict(deque)
    rows = []
    previous_of: dict[str, dict] = {}
    assert frame["timestamp"].is_monotonic_increasing  # lets the replay drop rows older than the window
    for record in frame.to_dict("records"):
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
        entities = EntityRows(device=recent("device", "device_id"), ip=recent("ip", "ip_address"),
                              merchant=recent("merchant", "merchant_id"))
        rows.append(online_features(record, in_window, previous_event=previous, entities=entities))
        previous_of[record["account_id"]] = record
        for kind, field in (("account", "account_id"), ("device", "device_id"), ("ip", "ip_address"), ("merchant", "merchant_id")):
            if record.get(field):
                stored[(kind, record[field])].append(record)
    return pd.DataFrame(rows, index=frame.index)[list(FEATURE_NAMES)]


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
    from scoring.features import FEATURES

    assert not any({"scenario", "period"} & set(spec.inputs) for spec in FEATURES)
    world = small_world().head(1000).reset_index(drop=True)
    scrambled = world.assign(scenario=np.random.default_rng(1).permutation(world["scenario"].to_numpy()), period="x")
    pd.testing.assert_frame_equal(batch_features(world), batch_features(scrambled))


def test_linked_accounts_devices_and_rings_count_the_window():
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
    # Row 3: account a on d2 (used by c) and 10.0.0.1 (used only by a): a group of 2.
    assert f["ring_size_30d"].tolist()[3] == 2
    assert f["ring_size_30d"].tolist()[4] == 1  # everything else is older than 30 days


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
