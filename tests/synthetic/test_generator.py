"""The synthetic fraud world: its shape, its determinism and the signals each scenario leaves."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from synthetic.generator import COLUMNS, SCENARIOS, WorldConfig, generate_world, read_world, write_world

CONFIG = WorldConfig(accounts=400, days=30, seed=11)
END = CONFIG.start + timedelta(days=CONFIG.days)


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    return generate_world(CONFIG)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def legit_home(world: pd.DataFrame) -> pd.DataFrame:
    """Each account's usual location: the median of its legitimate events."""
    return world[world.scenario == ""].groupby("account_id")[["latitude", "longitude"]].median()


# --------------------------------------------------------------------------- shape


def test_same_seed_gives_identical_world(world):
    pd.testing.assert_frame_equal(world, generate_world(CONFIG))


def test_different_seed_gives_different_world(world):
    other = generate_world(replace(CONFIG, seed=CONFIG.seed + 1))
    assert len(other) != len(world) or not other.equals(world)


def test_columns_and_dtypes_are_exactly_the_contract(world):
    assert list(world.columns) == list(COLUMNS)
    for column, dtype in COLUMNS.items():
        assert str(world[column].dtype) == dtype, column
    assert isinstance(world.index, pd.RangeIndex)
    assert world.index[0] == 0 and world.index[-1] == len(world) - 1


def test_event_ids_unique_and_rows_sorted_by_time(world):
    assert world.event_id.is_unique
    assert world.event_id.str.fullmatch(r"evt-\d{9}").all()
    assert world.timestamp.is_monotonic_increasing


def test_event_count_is_calibrated(world):
    expected = CONFIG.accounts * CONFIG.days * 0.8
    assert 0.85 * expected < len(world) < 1.15 * expected


def test_all_events_inside_the_simulated_period(world):
    assert world.timestamp.min() >= CONFIG.start
    assert world.timestamp.max() < END


def test_fields_are_filled_where_meaningful(world):
    money = world.event_type.isin(["payment", "purchase", "claim"])
    assert world.amount[money].notna().all() and (world.amount[money] > 0).all()
    assert world.amount[~money].isna().all()
    assert (world.currency[money].isin(["USD", "EUR", "GBP"])).all()
    assert (world.currency[~money] == "").all()
    card = world.event_type.isin(["payment", "purchase"])
    assert world.payment_status[card].isin(["success", "failed", "declined"]).all()
    assert (world.payment_status[~card] == "").all()
    logins = world.event_type == "login"
    assert (world.merchant_id[logins] == "").all() and (world.category[logins] == "").all()
    assert (world.merchant_id[money] != "").all() and (world.category[money] != "").all()
    assert world.session_duration[logins].notna().all() and (world.session_duration[logins] > 0).all()
    assert world.ip_address.str.fullmatch(r"\d{1,3}(\.\d{1,3}){3}").all()
    assert world.country.str.fullmatch(r"[A-Z]{2}").all()
    assert set(world.event_type) <= {"login", "signup", "payment", "purchase", "claim"}
    assert world.event_type.value_counts().index[0] == "login"


def test_legit_payments_fail_occasionally(world):
    legit_card = world[~world.is_fraud & world.event_type.isin(["payment", "purchase"])]
    failure_rate = legit_card.payment_status.isin(["failed", "declined"]).mean()
    assert 0.01 < failure_rate < 0.06


def test_new_accounts_sign_up_first(world):
    signups = world[world.event_type == "signup"]
    assert len(signups) > 0
    assert signups.account_id.is_unique
    assert (signups.timestamp == signups.account_created_at).all()
    assert (world.timestamp >= world.account_created_at).all()
    first_event = world.groupby("account_id").event_type.first()
    assert (first_event[signups.account_id] == "signup").all()


def test_progress_increments_add_up_to_the_events():
    seen: list[int] = []
    df = generate_world(replace(CONFIG, accounts=100, days=10, unlabeled_days=3, drift_days=5), progress=seen.append)
    assert all(n >= 0 for n in seen)
    assert sum(seen) == len(df)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="unlabeled_days"):
        generate_world(replace(CONFIG, unlabeled_days=CONFIG.days))
    with pytest.raises(ValueError, match="fraud_prevalence"):
        generate_world(replace(CONFIG, fraud_prevalence=0.0))


# --------------------------------------------------------------------------- labels and periods


def test_fraud_prevalence_near_target(world):
    share = world.is_fraud.mean()
    assert CONFIG.fraud_prevalence / 1.5 < share < CONFIG.fraud_prevalence * 1.5


def test_prevalence_follows_the_config():
    df = generate_world(replace(CONFIG, fraud_prevalence=0.05, accounts=300))
    assert 0.05 / 1.5 < df.is_fraud.mean() < 0.05 * 1.5


def test_every_scenario_appears_and_labels_are_mostly_but_not_always_right(world):
    fraud = world.scenario != ""
    assert set(world.scenario[fraud]) == set(SCENARIOS)
    # `scenario` is the truth, `is_fraud` the label as reported: most fraud is reported,
    # some is not, and a few legitimate payments come back as chargebacks.
    assert 0.75 < world.is_fraud[fraud].mean() < 0.98
    chargebacks = world[~fraud & world.is_fraud]
    assert len(chargebacks) > 0 and (chargebacks.payment_status == "success").all()
    assert len(chargebacks) < 0.005 * (~fraud & (world.payment_status == "success")).sum()


def test_labels_become_known_after_a_delay(world):
    delay = world.label_known_at - world.timestamp
    assert (delay >= pd.Timedelta(hours=3)).all()
    mean_days = delay.mean() / pd.Timedelta(days=1)
    assert 0.7 * CONFIG.label_delay_days < mean_days < 1.3 * CONFIG.label_delay_days


def test_unlabeled_period_is_the_last_days(world):
    boundary = END - timedelta(days=CONFIG.unlabeled_days)
    assert set(world.period) == {"history", "unlabeled"}
    assert ((world.period == "unlabeled") == (world.timestamp >= boundary)).all()
    assert world.is_fraud[world.period == "unlabeled"].any()


def test_fraud_concentrates_at_night_and_weekends():
    # A small world has only a campaign or two per scenario; take a bigger one to see the
    # heatmap: campaigns start in the small hours (UTC), most often into the weekend.
    df = generate_world(replace(CONFIG, accounts=3000))
    hour, weekday = df.timestamp.dt.hour, df.timestamp.dt.day_of_week
    night = hour < 6
    assert df.is_fraud[night].mean() > 2 * df.is_fraud[~night].mean()
    heatmap = df[df.is_fraud].groupby([weekday, hour]).size().unstack(fill_value=0)
    assert heatmap.to_numpy().max() > 4 * heatmap.to_numpy().mean()


# --------------------------------------------------------------------------- scenario signals


def test_ring_accounts_share_devices_and_legit_accounts_almost_never_do(world):
    accounts_per_device = world.groupby("device_id").account_id.nunique()
    shared = set(accounts_per_device[accounts_per_device > 1].index)

    ring = world[world.scenario == "fraud_ring"]
    ring_accounts = ring.account_id.unique()
    assert len(ring_accounts) >= 4
    ring_devices_per_account = ring.groupby("account_id").device_id.agg(set)
    assert all(devices & shared for devices in ring_devices_per_account)
    # A ring works from one city and one /24.
    assert (ring.groupby("account_id").country.nunique() == 1).all()
    assert ring.ip_address.str.rsplit(".", n=1).str[0].nunique() <= max(1, ring.device_id.nunique() // 2)
    # Ring members are fake accounts: no legitimate activity at all, and nobody else uses
    # their devices (families share devices too: that alone proves nothing).
    legit = world[world.scenario == ""]
    assert not legit.account_id.isin(ring_accounts).any()
    assert not legit.device_id.isin(set(ring.device_id)).any()


def test_takeover_comes_from_a_new_device_far_from_home_or_hides_in_the_home_network(world):
    takeover = world[world.scenario == "account_takeover"]
    assert len(takeover) > 0
    home = legit_home(world).loc[takeover.account_id]
    distance = pd.Series(haversine_km(home.latitude, home.longitude, takeover.latitude, takeover.longitude),
                         index=takeover.index)
    legit = world[world.scenario == ""]
    home_ranges = set(legit.ip_address.str.split(".").str[:2].str.join("."))

    kinds = set()
    for account, events in takeover.groupby("account_id"):
        before = world[(world.account_id == account) & (world.timestamp < events.timestamp.min())]
        reused_device = bool(set(events.device_id) & set(before.device_id))
        if (distance[events.index] > 500).all():
            kinds.add("far")
            assert not reused_device  # far away means a new device
        else:
            # The subtler kind: near home, through an ISP range the city's customers use.
            kinds.add("local")
            assert (distance[events.index] < 100).all()
            assert set(events.ip_address.str.split(".").str[:2].str.join(".")) <= home_ranges
        assert events.event_type.iloc[0] == "login"
        assert (events.timestamp.max() - events.timestamp.min()) < pd.Timedelta(hours=36)
    assert kinds == {"far", "local"}

    typical = legit[legit.amount.notna()].amount.median()
    assert takeover.amount.median() > 5 * typical


def test_card_testing_probes_before_a_larger_payment(world):
    testing = world[world.scenario == "card_testing"]
    assert testing.account_id.nunique() >= 2
    usual = world[(world.scenario == "") & world.amount.notna()].groupby("account_id").amount.median()
    kinds = []
    for account, events in testing.groupby("account_id"):
        big = events.amount.idxmax()
        probes = events.loc[: big - 1]
        if (probes.amount < 5).all():
            # Classic: tiny probes, mostly refused, then a large payment.
            kinds.append("tiny")
            refused = probes[probes.payment_status.isin(["failed", "declined"])]
            assert len(refused) >= 2
            assert events.amount[big] > 50 * probes.amount.max() / 5
        else:
            # Subtler: probes in the card holder's normal range, then a few times the usual spend.
            kinds.append("in range")
            assert probes.amount.between(usual[account] / 5, usual[account] * 5).all()
            assert events.amount[big] > 1.5 * probes.amount.median()
    assert kinds.count("tiny") >= len(kinds) / 3 and "in range" in kinds


def test_bot_sessions_are_short_and_frequent(world):
    logins = world[world.event_type == "login"]
    bot = logins[logins.scenario == "bot"]
    legit = logins[logins.scenario == ""]
    assert len(bot) > 0
    assert bot.groupby("account_id").device_id.nunique().max() == 1

    def median_gap(frame: pd.DataFrame) -> pd.Timedelta:
        return frame.groupby("account_id").timestamp.diff().dropna().median()

    # Fast scripts log in every few tens of seconds for seconds at a time; paced ones wait
    # minutes and stay about a minute: both far busier and shorter than a customer.
    for _, events in bot.groupby("account_id"):
        assert median_gap(events) < pd.Timedelta(minutes=30)
        assert events.session_duration.median() * 3 < legit.session_duration.median()
    assert median_gap(legit) > pd.Timedelta(hours=2)


def test_compromised_merchant_is_mostly_fraud_during_its_window(world):
    compromised = world[world.scenario == "compromised_merchant"]
    assert len(compromised) > 0
    for merchant, events in compromised.groupby("merchant_id"):
        window = world[(world.merchant_id == merchant)
                       & world.timestamp.between(events.timestamp.min(), events.timestamp.max())]
        assert (window.scenario != "").mean() > 0.5
        # Many different customers' cards, at one place.
        assert events.account_id.nunique() > len(events) // 2
        assert events.country.nunique() == 1


def test_drift_only_in_the_last_days_and_from_a_new_country(world):
    drift = world[world.scenario == "drift_scenario"]
    assert len(drift) > 0
    assert drift.timestamp.min() >= END - timedelta(days=CONFIG.drift_days)
    before = world[world.timestamp < END - timedelta(days=CONFIG.drift_days)]
    assert not before.country.isin(set(drift.country)).any()
    assert (drift.event_type == "purchase").all()
    assert drift.amount.between(20, 300).all()


def test_legitimate_look_alikes_exist(world):
    """Honest behaviour that looks like fraud on any single signal, so no one feature separates them."""
    legit = world[world.scenario == ""].copy()
    home = legit_home(world).loc[legit.account_id]
    legit["km_from_home"] = haversine_km(home.latitude, home.longitude, legit.latitude, legit.longitude)
    first_use = world.groupby(["account_id", "device_id"]).timestamp.transform("min")
    legit["new_device"] = (first_use.loc[legit.index] == legit.timestamp) & (
        legit.timestamp > world.timestamp.min() + pd.Timedelta(days=3))

    # Travellers on a laptop or new phone: a new device far from home.
    assert ((legit.km_from_home > 1000) & legit.new_device & (legit.event_type == "login")).sum() >= 5
    # Big-ticket purchases: many times the customer's usual amount.
    usual = legit.groupby("account_id").amount.transform("median")
    assert (legit.amount > 5 * usual).sum() >= 20
    # Families share devices; colleagues share the office's address.
    per_device = legit.groupby("device_id").account_id.nunique()
    assert per_device.between(2, 3).sum() >= 5
    per_ip = legit.groupby("ip_address").account_id.nunique()
    assert (per_ip >= 3).sum() >= 3
    # Honest new accounts transact within hours of signing up.
    created = legit.account_created_at
    fresh = legit[(legit.event_type != "signup") & (legit.timestamp - created < pd.Timedelta(hours=6))]
    assert fresh[fresh.amount.notna()].account_id.nunique() >= 5


def test_fraud_is_clustered_in_time(world):
    # Campaigns bunch fraud together: the busiest 5% of hours hold far more than 5% of it.
    per_hour = world.groupby(world.timestamp.dt.floor("h")).is_fraud.sum().sort_values(ascending=False)
    busiest = per_hour.iloc[: max(1, len(per_hour) // 20)]
    assert busiest.sum() > 0.15 * per_hour.sum()


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_world_round_trips(world, tmp_path, suffix):
    path = write_world(world, tmp_path / "nested" / f"world{suffix}")
    assert path.exists() and not path.with_name(path.name + ".part").exists()

    back = read_world(path)
    pd.testing.assert_frame_equal(back, world)

    raw = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(raw.event_id) == list(world.event_id)
    assert list(raw.account_id) == list(world.account_id)
    assert (pd.to_datetime(raw.timestamp, utc=True, format="ISO8601") == world.timestamp).all()
    np.testing.assert_array_equal(raw.amount.to_numpy(), world.amount.to_numpy())
    assert (raw.is_fraud.astype(bool) == world.is_fraud).all()


def test_write_world_refuses_unknown_suffix(world, tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        write_world(world, tmp_path / "world.xlsx")
