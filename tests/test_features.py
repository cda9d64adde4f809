"""Point-in-time features: batch and online paths agree; no feature sees the future."""
from __future__ import annotations

from collections import defaultdict, deque
from datetime import timedelta

import numpy as np
import pandas as pd

from scoring.features import FEATURE_NAMES, EntityRows, batch_features, online_features
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
