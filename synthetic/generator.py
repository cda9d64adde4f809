"""A synthetic fraud world: legitimate customers plus named fraud scenarios, one row per event.

`generate_world` returns a pandas DataFrame in the product's event format (see
`docs/data.md`) with the truth (`is_fraud`, `scenario`) and the time each label became
known (`label_known_at`). Everything is drawn from one `numpy.random.Generator` seeded by
`WorldConfig.seed`, so the same config always gives the same frame, row for row.

The work is vectorised over events; Python loops run only per home city, per fraud ring
and per compromised merchant, so a million events take seconds, not minutes.

Conventions inside this module: times are int64 nanoseconds since the Unix epoch (UTC),
categorical fields are small integer codes into the tables below, and a "block" is a dict
of equally long numpy arrays, one per internal field, turned into strings only once at the
end.

One module (past 1,000 lines) because one seeded generator draws everything in a fixed
order: split across modules, the order of draws (and so every seed's world) would depend
on how they call each other.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import contract
from core.files import frame_write

SCENARIOS: tuple[str, ...] = (
    "account_takeover",
    "card_testing",
    "fraud_ring",
    "bot",
    "compromised_merchant",
    "drift_scenario",
)

# The columns of the generated frame, in order, with their pandas dtypes.
COLUMNS: dict[str, str] = {
    "event_id": "str",
    "account_id": "str",
    "timestamp": "datetime64[ns, UTC]",
    "event_type": "str",
    "amount": "float64",
    "currency": "str",
    "payment_status": "str",
    "device_id": "str",
    "ip_address": "str",
    "latitude": "float64",
    "longitude": "float64",
    "country": "str",
    "session_duration": "float64",
    "merchant_id": "str",
    "category": "str",
    "account_created_at": "datetime64[ns, UTC]",
    "is_fraud": "bool",
    "label_known_at": "datetime64[ns, UTC]",
    "scenario": "str",
    "period": "str",
}

EVENT_TYPES = ("login", "signup", "payment", "purchase", "claim")
LOGIN, SIGNUP, PAYMENT, PURCHASE, CLAIM = range(5)
PAYMENT_STATUSES = ("", "success", "failed", "declined")
NO_STATUS, SUCCESS, FAILED, DECLINED = range(4)
CURRENCIES = ("", "USD", "EUR", "GBP")

MS_NS = 1_000_000
SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
EARTH_RADIUS_KM = 6371.0088

# Average events per account per simulated day, fraud included.
EVENTS_PER_ACCOUNT_DAY = 0.8

# Share of the fraud budget each scenario gets (sums to 1).
SCENARIO_SHARE: dict[str, float] = {
    "account_takeover": 0.22,
    "card_testing": 0.18,
    "fraud_ring": 0.20,
    "bot": 0.15,
    "compromised_merchant": 0.12,
    "drift_scenario": 0.13,
}


@dataclass(frozen=True)
class WorldConfig:
    """What world to simulate.

    accounts: customers (fraud-ring accounts are carved out of them);
    days: simulated days, of which the last `unlabeled_days` form the unlabeled period;
    fraud_prevalence: approximate share of events that are fraud;
    start: the first instant of the simulation (UTC);
    label_delay_days: mean delay until an event's label becomes known;
    drift_days: the drift scenario only occurs in the last `drift_days` days.
    """

    accounts: int = 2000
    days: int = 60
    unlabeled_days: int = 7
    fraud_prevalence: float = 0.02
    seed: int = 7
    start: datetime = datetime(2026, 9, 1, tzinfo=timezone.utc)
    label_delay_days: float = 5.0
    drift_days: int = 14


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    country: str
    utc_offset_hours: int  # fixed offset for the autumn simulation period, no DST switch
    currency: str
    weight: float  # share of customers living there (home cities only)


HOME_CITIES: tuple[City, ...] = (
    City("London", 51.5074, -0.1278, "GB", 1, "GBP", 8),
    City("Manchester", 53.4808, -2.2426, "GB", 1, "GBP", 3),
    City("Dublin", 53.3498, -6.2603, "IE", 1, "EUR", 2),
    City("Paris", 48.8566, 2.3522, "FR", 2, "EUR", 6),
    City("Lyon", 45.7640, 4.8357, "FR", 2, "EUR", 2),
    City("Berlin", 52.5200, 13.4050, "DE", 2, "EUR", 5),
    City("Munich", 48.1351, 11.5820, "DE", 2, "EUR", 3),
    City("Hamburg", 53.5511, 9.9937, "DE", 2, "EUR", 2),
    City("Amsterdam", 52.3676, 4.9041, "NL", 2, "EUR", 3),
    City("Brussels", 50.8503, 4.3517, "BE", 2, "EUR", 2),
    City("Madrid", 40.4168, -3.7038, "ES", 2, "EUR", 4),
    City("Barcelona", 41.3874, 2.1686, "ES", 2, "EUR", 3),
    City("Lisbon", 38.7223, -9.1393, "PT", 1, "EUR", 2),
    City("Rome", 41.9028, 12.4964, "IT", 2, "EUR", 3),
    City("Milan", 45.4642, 9.1900, "IT", 2, "EUR", 3),
    City("Vienna", 48.2082, 16.3738, "AT", 2, "EUR", 2),
    City("Zurich", 47.3769, 8.5417, "CH", 2, "EUR", 1),
    City("Stockholm", 59.3293, 18.0686, "SE", 2, "EUR", 2),
    City("Copenhagen", 55.6761, 12.5683, "DK", 2, "EUR", 1),
    City("Warsaw", 52.2297, 21.0122, "PL", 2, "EUR", 2),
    City("Helsinki", 60.1699, 24.9384, "FI", 3, "EUR", 1),
    City("New York", 40.7128, -74.0060, "US", -4, "USD", 6),
    City("Boston", 42.3601, -71.0589, "US", -4, "USD", 2),
    City("Chicago", 41.8781, -87.6298, "US", -5, "USD", 3),
    City("Austin", 30.2672, -97.7431, "US", -5, "USD", 2),
    City("Los Angeles", 34.0522, -118.2437, "US", -7, "USD", 4),
    City("San Francisco", 37.7749, -122.4194, "US", -7, "USD", 3),
    City("Seattle", 47.6062, -122.3321, "US", -7, "USD", 2),
    City("Toronto", 43.6532, -79.3832, "CA", -4, "USD", 3),
    City("Sydney", -33.8688, 151.2093, "AU", 10, "USD", 2),
    City("Singapore", 1.3521, 103.8198, "SG", 8, "USD", 1),
)
# Where account takeovers and card testing are run from.
ATTACKER_CITIES: tuple[City, ...] = (
    City("Lagos", 6.5244, 3.3792, "NG", 1, "USD", 0),
    City("Bucharest", 44.4268, 26.1025, "RO", 3, "EUR", 0),
    City("Kyiv", 50.4501, 30.5234, "UA", 3, "EUR", 0),
    City("Moscow", 55.7558, 37.6173, "RU", 3, "USD", 0),
    City("Sao Paulo", -23.5505, -46.6333, "BR", -3, "USD", 0),
    City("Manila", 14.5995, 120.9842, "PH", 8, "USD", 0),
    City("Istanbul", 41.0082, 28.9784, "TR", 3, "EUR", 0),
    City("Mumbai", 19.0760, 72.8777, "IN", 5, "USD", 0),
)
# Hosting regions bots run from.
DATACENTER_CITIES: tuple[City, ...] = (
    City("Ashburn", 39.0438, -77.4874, "US", -4, "USD", 0),
    City("Frankfurt", 50.1109, 8.6821, "DE", 2, "EUR", 0),
    City("Dallas", 32.7767, -96.7970, "US", -5, "USD", 0),
    City("Hong Kong", 22.3193, 114.1694, "HK", 8, "USD", 0),
)
# Only the drift scenario comes from here, so its country is new to the history.
DRIFT_CITIES: tuple[City, ...] = (
    City("Ho Chi Minh City", 10.8231, 106.6297, "VN", 7, "USD", 0),
    City("Jakarta", -6.2088, 106.8456, "ID", 7, "USD", 0),
)
ALL_CITIES = HOME_CITIES + ATTACKER_CITIES + DATACENTER_CITIES + DRIFT_CITIES
_ATTACKER_FIRST = len(HOME_CITIES)
_DATACENTER_FIRST = _ATTACKER_FIRST + len(ATTACKER_CITIES)
_DRIFT_FIRST = _DATACENTER_FIRST + len(DATACENTER_CITIES)
_CITY_LAT = np.array([c.latitude for c in ALL_CITIES])
_CITY_LON = np.array([c.longitude for c in ALL_CITIES])
_CITY_OFFSET = np.array([c.utc_offset_hours for c in ALL_CITIES], dtype=np.int64)
_CITY_CURRENCY = np.array([CURRENCIES.index(c.currency) for c in ALL_CITIES], dtype=np.int8)
_HOME_WEIGHT = np.array([c.weight for c in HOME_CITIES], dtype=float)
_HOME_WEIGHT /= _HOME_WEIGHT.sum()


@dataclass(frozen=True)
class Category:
    name: str
    kind: int  # PAYMENT, PURCHASE or CLAIM: the event type a transaction there gets
    weight: float  # share of the merchant pool
    log_amount_shift: float  # added to the account's log-amount: electronics cost more than coffee
    physical_share: float  # share of merchants with a shop (a city) rather than online only


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", PURCHASE, 0.15, 0.0, 0.9),
    Category("restaurants", PURCHASE, 0.11, -0.2, 0.95),
    Category("fashion", PURCHASE, 0.09, 0.4, 0.5),
    Category("electronics", PURCHASE, 0.06, 1.2, 0.4),
    Category("travel", PURCHASE, 0.04, 1.5, 0.1),
    Category("entertainment", PURCHASE, 0.06, -0.3, 0.5),
    Category("digital_goods", PURCHASE, 0.07, -0.8, 0.0),
    Category("gift_cards", PURCHASE, 0.03, 0.5, 0.2),
    Category("pharmacy", PURCHASE, 0.05, -0.4, 0.9),
    Category("fuel", PURCHASE, 0.05, 0.1, 1.0),
    Category("utilities", PAYMENT, 0.07, 0.5, 0.0),
    Category("telecom", PAYMENT, 0.06, 0.1, 0.0),
    Category("subscriptions", PAYMENT, 0.09, -0.9, 0.0),
    Category("transfers", PAYMENT, 0.07, 1.0, 0.0),
    Category("insurance", CLAIM, 0.0, 0.0, 0.0),  # insurers are added separately
)
_CATEGORY_INDEX = {c.name: i for i, c in enumerate(CATEGORIES)}
_INSURERS = 5
# Where stolen value is cashed out: resellable goods and money movement.
_CASHOUT_CATEGORIES = ("electronics", "gift_cards", "transfers", "digital_goods")


def _weekly_profile(weekday_hours: list[float], weekend_hours: list[float], day_weights: list[float]) -> np.ndarray:
    """Relative activity for each hour of the week, index weekday*24 + hour, Monday = 0."""
    rows = [np.asarray(weekend_hours if day >= 5 else weekday_hours) * day_weights[day] for day in range(7)]
    return np.concatenate(rows).astype(float)


# Customers, in their own local time: quiet nights, lunch and evening peaks, later weekends.
_LEGIT_WEEK = _weekly_profile(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.3, 0.7, 1.0, 1.1, 1.15, 1.2,
     1.4, 1.3, 1.1, 1.05, 1.1, 1.25, 1.45, 1.6, 1.7, 1.55, 1.1, 0.65],
    [0.5, 0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3, 0.6, 0.95, 1.3, 1.5,
     1.55, 1.5, 1.4, 1.35, 1.35, 1.35, 1.4, 1.5, 1.55, 1.45, 1.2, 0.85],
    [1.0, 0.97, 0.98, 1.0, 1.08, 1.12, 0.95],
)
# Fraud campaigns, in UTC: the small hours, strongest in the nights into Saturday and Sunday.
_FRAUD_NIGHT_HOURS = [2.6, 3.0, 3.2, 3.0, 2.4, 1.4, 0.6, 0.3, 0.15, 0.1, 0.1, 0.1,
                      0.15, 0.15, 0.15, 0.15, 0.2, 0.2, 0.25, 0.3, 0.45, 0.7, 1.1, 1.8]
_FRAUD_WEEK = _weekly_profile(_FRAUD_NIGHT_HOURS, _FRAUD_NIGHT_HOURS, [0.8, 0.7, 0.7, 0.8, 1.3, 1.7, 1.2])
# A shop's opening hours, local time, busiest in the evening.
_SHOP_HOURS = [0.02] * 9 + [0.6, 0.8, 1.0, 1.2, 1.0, 0.9, 0.9, 1.0, 1.3, 1.5, 1.5, 1.2, 0.8, 0.1, 0.03]
_SHOP_WEEK = _weekly_profile(_SHOP_HOURS, _SHOP_HOURS, [1.0, 1.0, 1.0, 1.0, 1.2, 1.4, 0.6])
# The drift pattern: late night in its own (new) country.
_DRIFT_HOURS = [2.5, 2.2, 1.6, 1.0, 0.4, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05,
                0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.0, 1.8, 2.4]
_DRIFT_WEEK = _weekly_profile(_DRIFT_HOURS, _DRIFT_HOURS, [1.0] * 7)


# --------------------------------------------------------------------------- public API


def generate_world(config: WorldConfig, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Simulate `config.accounts` customers over `config.days` days, legitimate and fraud.

    Returns one row per event, sorted by timestamp (ties keep generation order), index
    0..n-1, with exactly the columns and dtypes of `COLUMNS`. Roughly
    `accounts * days * 0.8` rows come out, about `fraud_prevalence` of them fraud.
    `progress`, when given, is called with the number of events produced by each step;
    the increments add up to the number of rows.
    """
    _validate(config)
    rng = np.random.default_rng(config.seed)
    world = _World.build(config, rng)
    report = progress or (lambda _n: None)

    blocks: list[dict[str, np.ndarray]] = []
    chunk = 4096
    for first in range(0, world.n_accounts, chunk):
        accounts = np.arange(first, min(first + chunk, world.n_accounts))
        block = _legit_events(world, accounts[~world.is_ring[accounts]])
        blocks.append(block)
        report(len(block["ts"]))
    legit = _concat(blocks)

    for scenario in SCENARIOS:
        block = _SCENARIO_BUILDERS[scenario](world, legit)
        block["fraud"][:] = True
        block["scenario"][:] = SCENARIOS.index(scenario) + 1
        blocks.append(block)
        report(len(block["ts"]))
    return _assemble(world, _concat(blocks))


def write_world(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a generated world to `path`, as CSV or Parquet by the file's suffix.

    The file is written next to its destination first and then renamed, so a reader never
    sees half a file. Returns the path written.
    """
    return frame_write(df, path)


# The contract's fields a generated row carries, in the contract's order; labels, the
# scenario and the period stay behind when a row is sent as an event.
EVENT_FIELDS = contract.COLUMN_NAMES


def row_event(record: Mapping[str, Any], fields: Sequence[str] = EVENT_FIELDS) -> dict[str, Any]:
    """A generated row as the JSON body of one /score event: times as ISO text, empty values
    (None, NaN, NaT, "") left out, as a sender leaves out a field it does not have."""
    event = {}
    for name in fields:
        value = record.get(name)
        if value is None or value is pd.NaT or (isinstance(value, str) and value == "") or (
            isinstance(value, float) and math.isnan(value)
        ):
            continue
        event[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return event


def read_world(path: str | Path) -> pd.DataFrame:
    """Read a file written by `write_world` back with the generator's dtypes.

    Empty strings stay empty strings (not NaN) and times come back as datetime64[ns, UTC].
    Meant for generator output; arbitrary customer files go through the importer.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        float_columns = [c for c, t in COLUMNS.items() if t == "float64"]
        df = pd.read_csv(
            path,
            dtype={c: t for c, t in COLUMNS.items() if t in ("str", "bool")},
            keep_default_na=False,
            na_values={c: [""] for c in float_columns},
        )
    else:
        df = pd.read_parquet(path)
    for column, dtype in COLUMNS.items():
        if dtype.startswith("datetime64"):
            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601").astype(dtype)
        else:
            df[column] = df[column].astype(dtype)
    return df[list(COLUMNS)]


# --------------------------------------------------------------------------- the world


def _validate(config: WorldConfig) -> None:
    if config.accounts < 20:
        raise ValueError("accounts must be at least 20")
    if config.days < 2:
        raise ValueError("days must be at least 2")
    if not 0 < config.unlabeled_days < config.days:
        raise ValueError("unlabeled_days must be positive and less than days")
    if not 0 < config.drift_days <= config.days:
        raise ValueError("drift_days must be positive and at most days")
    if not 0 < config.fraud_prevalence < 0.5:
        raise ValueError("fraud_prevalence must be between 0 and 0.5")
    if config.label_delay_days <= 0:
        raise ValueError("label_delay_days must be positive")
    if config.start.tzinfo is None:
        raise ValueError("start must be timezone-aware")


@dataclass
class _World:
    """Everything drawn once before events: accounts, devices, networks, merchants."""

    config: WorldConfig
    rng: np.random.Generator
    start_ns: int
    end_ns: int
    n_accounts: int
    fraud_budget: float  # expected number of fraud events
    # accounts
    home_city: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    created_ns: np.ndarray
    currency: np.ndarray
    is_ring: np.ndarray
    ring_sizes: np.ndarray  # members per ring; ring accounts are the `is_ring` ones, in order
    daily_rate: np.ndarray
    login_share: np.ndarray
    fail_rate: np.ndarray
    amount_mu: np.ndarray
    amount_sigma: np.ndarray
    session_mu: np.ndarray
    personal_shift_ns: np.ndarray
    devices: np.ndarray  # (accounts, 4) device ids, first n_devices valid
    n_devices: np.ndarray
    ips: np.ndarray  # (accounts, 3) IPv4 as int, first n_ips valid
    n_ips: np.ndarray
    favourites: np.ndarray  # (accounts, 10) merchant indexes, first n_favourites valid
    n_favourites: np.ndarray
    insurer: np.ndarray  # merchant index of the account's insurer, -1 when uninsured
    trip_city: np.ndarray  # -1 when the account does not travel
    trip_start_ns: np.ndarray
    trip_end_ns: np.ndarray
    trip_ip: np.ndarray
    trip_device: np.ndarray  # a laptop or new phone used on the trip; -1 for none
    switch_ns: np.ndarray  # when the account moves to a new phone (int64 max: never)
    switch_device: np.ndarray
    office_ip: np.ndarray  # the employer's NAT address used in office hours; -1 for none
    # networks per city: three ISP /16 blocks and one mobile /16 block
    isp_blocks: np.ndarray
    mobile_blocks: np.ndarray
    # merchants (insurers last)
    merchant_category: np.ndarray
    merchant_city: np.ndarray  # -1 for online merchants
    merchant_lat: np.ndarray
    merchant_lon: np.ndarray
    merchant_popularity: np.ndarray
    # fraud bookkeeping
    next_device: int
    victim_order: np.ndarray
    victims_used: int = 0

    @classmethod
    def build(cls, config: WorldConfig, rng: np.random.Generator) -> _World:
        n = config.accounts
        start_ns = int(pd.Timestamp(config.start).as_unit("ns").value)
        end_ns = start_ns + config.days * DAY_NS
        total_events = n * config.days * EVENTS_PER_ACCOUNT_DAY
        fraud_budget = config.fraud_prevalence * total_events

        home_city = rng.choice(len(HOME_CITIES), size=n, p=_HOME_WEIGHT)
        home_lat = _CITY_LAT[home_city] + rng.normal(0, 0.05, n)
        home_lon = _CITY_LON[home_city] + rng.normal(0, 0.07, n)

        # Most accounts predate the simulation; about one in ten signs up during it.
        created_ns = start_ns - (rng.uniform(20, 1500, n) * DAY_NS).astype(np.int64)
        new = rng.random(n) < 0.10
        created_ns[new] = start_ns + (rng.random(new.sum()) * (end_ns - DAY_NS - start_ns)).astype(np.int64)

        # Fraud-ring accounts are fake accounts; carve them out of the customer base.
        ring_budget = fraud_budget * SCENARIO_SHARE["fraud_ring"]
        ring_members = ring_budget / _RING_EVENTS_PER_MEMBER
        # Many rings stay small (two or three accounts) to stay under the radar.
        ring_sizes = _sizes_for_budget(rng, ring_members, lambda k: np.clip(2 + rng.poisson(2.0, k), 2, 10))
        # Small worlds: trim the last ring so the member count lands near the budget.
        ring_sizes[-1] = np.clip(round(ring_members - ring_sizes[:-1].sum()), 2, 10)
        ring_sizes = ring_sizes[np.cumsum(ring_sizes) <= max(4, int(0.15 * n))]
        is_ring = np.zeros(n, dtype=bool)
        is_ring[rng.choice(n, size=int(ring_sizes.sum()), replace=False)] = True

        # Calibrate personal rates so expected legitimate events hit the target.
        activity = rng.lognormal(0.0, 0.8, n)
        active_days = (end_ns - np.maximum(created_ns, start_ns)) / DAY_NS
        legit_target = total_events - fraud_budget
        weight = np.where(is_ring, 0.0, activity * active_days)
        daily_rate = activity * legit_target / weight.sum()

        login_share = rng.beta(6, 6, n)
        fail_rate = rng.beta(1.5, 55, n)
        amount_mu = rng.normal(3.3, 0.6, n)
        amount_sigma = rng.uniform(0.35, 0.8, n)
        session_mu = rng.normal(np.log(6.0), 0.5, n)
        personal_shift_ns = (rng.normal(0, 0.75, n) * HOUR_NS).astype(np.int64)

        n_devices = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
        devices = np.arange(n * 4, dtype=np.int64).reshape(n, 4)
        # Families share a tablet or laptop: one account in twelve or so also uses the device
        # of a partner or parent (groups of two or three accounts on one device).
        n_families = max(1, n // 24)
        family = rng.choice(n, size=3 * n_families, replace=False).reshape(n_families, 3)
        for column, present in ((1, np.ones(n_families, dtype=bool)), (2, rng.random(n_families) < 0.4)):
            guest, owner = family[present, column], family[present, 0]
            devices[guest, n_devices[guest]] = devices[owner, 0]
            n_devices[guest] += 1
        extra_device = n * 4  # ids for devices that appear later: new phones, travel laptops

        isp_blocks = _random_blocks(rng, (len(ALL_CITIES), 3), first_octets=np.arange(60, 100))
        mobile_blocks = _random_blocks(rng, len(ALL_CITIES), first_octets=np.arange(100, 130))
        n_ips = rng.choice([1, 2, 3], size=n, p=[0.45, 0.4, 0.15])
        block_choice = isp_blocks[home_city[:, None], rng.integers(0, 3, (n, 3))]
        ips = block_choice + rng.integers(1, 65535, (n, 3))

        # One in four customers takes a trip of a few days to another city.
        travels = rng.random(n) < 0.25
        trip_city = np.where(travels, (home_city + rng.integers(1, len(HOME_CITIES), n)) % len(HOME_CITIES), -1)
        trip_start_ns = start_ns + (rng.random(n) * (end_ns - start_ns)).astype(np.int64)
        trip_end_ns = trip_start_ns + (rng.uniform(2, 8, n) * DAY_NS).astype(np.int64)
        trip_ip = isp_blocks[np.maximum(trip_city, 0), rng.integers(0, 3, n)] + rng.integers(1, 65535, n)
        # Some travellers log in from a laptop or a new phone never used on the account:
        # a new device far from home, exactly what a takeover looks like.
        trip_device = np.where(travels & (rng.random(n) < 0.45), extra_device + np.arange(n), -1)
        # One customer in ten replaces their phone during the period.
        switch_ns = np.where(rng.random(n) < 0.10, start_ns + (rng.uniform(0.05, 0.95, n) * (end_ns - start_ns)).astype(np.int64),
                             np.iinfo(np.int64).max)
        switch_device = extra_device + n + np.arange(n)

        # Office workers: on weekdays in office hours their events come through the
        # employer's NAT address, shared by dozens of colleagues.
        office_ip = np.full(n, -1, dtype=np.int64)
        works_in_office = rng.random(n) < 0.10
        office_nets = _random_blocks(rng, len(HOME_CITIES), first_octets=np.arange(130, 160))
        for c in range(len(HOME_CITIES)):
            staff = np.flatnonzero(works_in_office & (home_city == c))
            offices = max(1, len(staff) // 40)
            office_ip[staff] = office_nets[c] + 256 * rng.integers(1, 255, offices)[rng.integers(0, offices, len(staff))] + 10

        merchants = _build_merchants(rng, n)
        favourites, n_favourites = _pick_favourites(rng, home_city, merchants)
        insured = rng.random(n) < 0.25
        insurer = np.where(insured, merchants["first_insurer"] + rng.integers(0, _INSURERS, n), -1)

        established = np.flatnonzero((created_ns < start_ns) & ~is_ring)
        return cls(
            config=config, rng=rng, start_ns=start_ns, end_ns=end_ns, n_accounts=n,
            fraud_budget=fraud_budget, home_city=home_city, home_lat=home_lat, home_lon=home_lon,
            created_ns=created_ns, currency=_CITY_CURRENCY[home_city], is_ring=is_ring,
            ring_sizes=ring_sizes, daily_rate=daily_rate, login_share=login_share,
            fail_rate=fail_rate, amount_mu=amount_mu, amount_sigma=amount_sigma,
            session_mu=session_mu, personal_shift_ns=personal_shift_ns, devices=devices,
            n_devices=n_devices, ips=ips, n_ips=n_ips, favourites=favourites,
            n_favourites=n_favourites, insurer=insurer, trip_city=trip_city,
            trip_start_ns=trip_start_ns, trip_end_ns=trip_end_ns, trip_ip=trip_ip,
            trip_device=trip_device, switch_ns=switch_ns, switch_device=switch_device, office_ip=office_ip,
            isp_blocks=isp_blocks, mobile_blocks=mobile_blocks,
            merchant_category=merchants["category"], merchant_city=merchants["city"],
            merchant_lat=merchants["lat"], merchant_lon=merchants["lon"],
            merchant_popularity=merchants["popularity"],
            next_device=int(switch_device.max()) + 1, victim_order=rng.permutation(established),
        )

    def new_devices(self, count: int) -> np.ndarray:
        """Device ids never used before, by anyone."""
        ids = np.arange(self.next_device, self.next_device + count, dtype=np.int64)
        self.next_device += count
        return ids

    def take_victims(self, count: int) -> np.ndarray:
        """Established accounts, each used by one fraud instance while the pool lasts."""
        positions = (self.victims_used + np.arange(count)) % len(self.victim_order)
        self.victims_used += count
        return self.victim_order[positions]

    def merchants_in(self, categories: tuple[str, ...], online: bool = True) -> np.ndarray:
        """Everyday merchants of these categories (online ones, or shops when not `online`).

        A small pool may lack some; then any merchant of the categories, and failing that
        any everyday merchant, so a scenario always has somewhere to go.
        """
        everyday = self.merchant_popularity > 0
        in_categories = everyday & np.isin(self.merchant_category, [_CATEGORY_INDEX[c] for c in categories])
        is_online = self.merchant_city < 0
        for mask in (in_categories & (is_online if online else ~is_online), in_categories, everyday):
            if mask.any():
                return np.flatnonzero(mask)
        raise AssertionError("the merchant pool is never empty")

    def typical_amount(self, accounts: np.ndarray) -> np.ndarray:
        return np.exp(self.amount_mu[accounts] + self.amount_sigma[accounts] ** 2 / 2)


def _random_blocks(rng: np.random.Generator, shape, first_octets: np.ndarray) -> np.ndarray:
    """Random /16 network blocks as integer base addresses."""
    return (rng.choice(first_octets, size=shape).astype(np.int64) << 24) | (
        rng.integers(0, 256, size=shape).astype(np.int64) << 16
    )


def _hosting_ranges(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random /24 networks in hosting-provider space, as integer base addresses."""
    first = rng.choice(np.array([45, 91, 176, 185, 193, 194]), size=count).astype(np.int64)
    return (first << 24) | (rng.integers(0, 256, count).astype(np.int64) << 16) | (
        rng.integers(0, 256, count).astype(np.int64) << 8
    )


def _build_merchants(rng: np.random.Generator, n_accounts: int) -> dict[str, np.ndarray | int]:
    count = int(np.clip(n_accounts // 12, 80, 4000))
    weights = np.array([c.weight for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), size=count, p=weights / weights.sum())
    physical_share = np.array([c.physical_share for c in CATEGORIES])[category]
    city = np.where(rng.random(count) < physical_share, rng.choice(len(HOME_CITIES), size=count, p=_HOME_WEIGHT), -1)
    # Insurers handle claims; they are online and come last.
    category = np.concatenate([category, np.full(_INSURERS, _CATEGORY_INDEX["insurance"])])
    city = np.concatenate([city, np.full(_INSURERS, -1)])
    has_city = city >= 0
    lat = np.where(has_city, _CITY_LAT[np.maximum(city, 0)] + rng.normal(0, 0.04, len(city)), np.nan)
    lon = np.where(has_city, _CITY_LON[np.maximum(city, 0)] + rng.normal(0, 0.06, len(city)), np.nan)
    popularity = rng.lognormal(0.0, 1.2, len(city))
    popularity[-_INSURERS:] = 0.0  # never picked as an everyday merchant
    return {"category": category, "city": city, "lat": lat, "lon": lon, "popularity": popularity,
            "first_insurer": count}


def _pick_favourites(rng: np.random.Generator, home_city: np.ndarray, merchants: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each account's 3-10 regular merchants: shops in its home city and online merchants."""
    n = len(home_city)
    slots = 10
    city, popularity = merchants["city"], merchants["popularity"]
    online = np.flatnonzero((city < 0) & (popularity > 0))
    favourites = _weighted_pick(rng, online, popularity[online], (n, slots))
    local_slot = rng.random((n, slots)) < 0.55
    for c in np.unique(home_city):
        shops = np.flatnonzero(city == c)
        if len(shops) == 0:
            continue
        rows = np.flatnonzero(home_city == c)
        picks = _weighted_pick(rng, shops, popularity[shops], (len(rows), slots))
        mask = local_slot[rows]
        favourites[rows] = np.where(mask, picks, favourites[rows])
    return favourites, rng.integers(3, slots + 1, n)


def _weighted_pick(rng: np.random.Generator, items: np.ndarray, weights: np.ndarray, size) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=float)
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, rng.random(size), side="right")
    return items[np.minimum(idx, len(items) - 1)]


# --------------------------------------------------------------------------- helpers


def _empty_block(n: int) -> dict[str, np.ndarray]:
    """A block of `n` events with every optional field empty."""
    return {
        "account": np.zeros(n, dtype=np.int64),
        "ts": np.zeros(n, dtype=np.int64),
        "etype": np.zeros(n, dtype=np.int8),
        "amount": np.full(n, np.nan),
        "currency": np.zeros(n, dtype=np.int8),
        "status": np.zeros(n, dtype=np.int8),
        "device": np.zeros(n, dtype=np.int64),
        "ip": np.zeros(n, dtype=np.int64),
        "lat": np.zeros(n),
        "lon": np.zeros(n),
        "city": np.zeros(n, dtype=np.int16),
        "session": np.full(n, np.nan),
        "merchant": np.full(n, -1, dtype=np.int64),
        "fraud": np.zeros(n, dtype=bool),
        "scenario": np.zeros(n, dtype=np.int8),
    }


def _concat(blocks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}


def _select(block: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {key: values[mask] for key, values in block.items()}


def _sample_times(rng: np.random.Generator, n: int, lo_ns: int, hi_ns: int, week: np.ndarray,
                  ramp: bool = False) -> np.ndarray:
    """`n` instants in [lo_ns, hi_ns) whose hour of week follows `week` (168 weights).

    The clock is read as UTC; to sample a local-time rhythm, subtract the UTC offset from
    the result. With `ramp`, the rate grows steadily across the range.
    """
    hours = np.arange(lo_ns // HOUR_NS, -(-hi_ns // HOUR_NS))
    weekday = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday
    weights = week[weekday * 24 + hours % 24]
    if ramp:
        weights = weights * np.linspace(0.2, 1.8, len(hours))
    idx = np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right"),
                     len(hours) - 1)
    times = hours[idx] * HOUR_NS + (rng.random(n) * HOUR_NS).astype(np.int64)
    return np.clip(times, lo_ns, hi_ns - 1)


def _segment_starts(sizes: np.ndarray) -> np.ndarray:
    return np.cumsum(sizes) - sizes


def _segment_cumsum(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Running sum restarting at each segment; segments are laid out one after another."""
    running = np.cumsum(values)
    starts = _segment_starts(sizes)
    return running - np.repeat(running[starts] - values[starts], sizes)


def _segment_position(sizes: np.ndarray) -> np.ndarray:
    return np.arange(int(sizes.sum())) - np.repeat(_segment_starts(sizes), sizes)


def _sizes_for_budget(rng: np.random.Generator, budget: float, draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """Instance sizes drawn with `draw` whose total comes closest to `budget` (at least one)."""
    sample = draw(16)
    batch = max(16, int(3 * budget / max(sample.mean(), 1)) + 16)
    sizes = np.concatenate([sample, draw(batch)])
    totals = np.cumsum(sizes)
    keep = int(np.argmin(np.abs(totals - budget))) + 1
    return sizes[:keep]


def _campaigns(rng: np.random.Generator, instances: int, mean_size: float) -> np.ndarray:
    """Assign instances to campaigns (time-and-place clusters); returns a campaign per instance."""
    count = max(1, int(round(instances / mean_size)))
    return np.sort(rng.integers(0, count, instances))


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _pick_status(rng: np.random.Generator, n: int, p_success: float, p_declined: float) -> np.ndarray:
    u = rng.random(n)
    return np.where(u < p_success, SUCCESS, np.where(u < p_success + p_declined, DECLINED, FAILED)).astype(np.int8)


# --------------------------------------------------------------------------- legitimate behaviour


def _legit_events(world: _World, accounts: np.ndarray) -> dict[str, np.ndarray]:
    """Everyday behaviour of `accounts`: logins, payments, purchases, claims and sign-ups."""
    rng, cfg = world.rng, world.config
    counts = rng.poisson(world.daily_rate[accounts] * cfg.days)
    account = np.repeat(accounts, counts)
    n = len(account)

    # Sample on each customer's local clock, then move to UTC; wrap the few events the
    # shift pushes past either end so the period stays full.
    local = _sample_times(rng, n, world.start_ns, world.end_ns, _LEGIT_WEEK)
    shift = _CITY_OFFSET[world.home_city[account]] * HOUR_NS + world.personal_shift_ns[account]
    span = world.end_ns - world.start_ns
    ts = world.start_ns + (local - shift - world.start_ns) % span
    keep = ts > world.created_ns[account]
    account, ts, local = account[keep], ts[keep], local[keep]
    n = len(account)

    block = _empty_block(n)
    block["account"], block["ts"] = account, ts

    # Where: home, or the trip city while travelling (with a hotel network).
    travelling = ((world.trip_city[account] >= 0) & (ts >= world.trip_start_ns[account])
                  & (ts < world.trip_end_ns[account]))
    city = np.where(travelling, world.trip_city[account], world.home_city[account])
    block["city"] = city.astype(np.int16)
    block["lat"] = np.where(travelling, _CITY_LAT[city] + rng.normal(0, 0.04, n),
                            world.home_lat[account] + rng.normal(0, 0.01, n))
    block["lon"] = np.where(travelling, _CITY_LON[city] + rng.normal(0, 0.06, n),
                            world.home_lon[account] + rng.normal(0, 0.015, n))

    # Devices: mostly the primary one. Networks: home broadband, sometimes mobile data.
    device_slot = np.where(rng.random(n) < 0.7, 0, (rng.random(n) * world.n_devices[account]).astype(np.int64))
    device = world.devices[account, device_slot]
    device = np.where((device_slot == 0) & (ts >= world.switch_ns[account]), world.switch_device[account], device)
    on_trip_device = travelling & (world.trip_device[account] >= 0) & (rng.random(n) < 0.6)
    block["device"] = np.where(on_trip_device, world.trip_device[account], device)
    ip_slot = (rng.random(n) ** 2 * world.n_ips[account]).astype(np.int64)
    ip = world.ips[account, ip_slot]
    mobile = rng.random(n) < 0.08
    ip = np.where(mobile, world.mobile_blocks[city] + rng.integers(1, 65535, n), ip)
    # Weekdays 09:00-17:59 on the customer's clock: at the office.
    local_hour = (local // HOUR_NS) % 24
    local_weekday = (local // DAY_NS + 3) % 7
    at_office = (world.office_ip[account] >= 0) & (local_weekday < 5) & (local_hour >= 9) & (local_hour < 18) & ~travelling
    ip = np.where(at_office & (rng.random(n) < 0.85), world.office_ip[account], ip)
    block["ip"] = np.where(travelling & ~mobile, world.trip_ip[account], ip)

    # What: a login, a transaction at a (mostly favourite) merchant, or an insurance claim.
    u = rng.random(n)
    is_login = u < world.login_share[account]
    is_claim = ~is_login & (world.insurer[account] >= 0) & (rng.random(n) < 0.02)
    is_txn = ~is_login & ~is_claim

    favourite_slot = (rng.random(n) ** 1.3 * world.n_favourites[account]).astype(np.int64)
    merchant = world.favourites[account, favourite_slot]
    everyday = np.flatnonzero(world.merchant_popularity > 0)
    occasional = rng.random(n) < 0.12
    merchant = np.where(occasional, _weighted_pick(rng, everyday, world.merchant_popularity[everyday], n), merchant)
    merchant = np.where(is_claim, world.insurer[account], merchant)
    merchant = np.where(is_login, -1, merchant)
    block["merchant"] = merchant

    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    category = world.merchant_category[np.maximum(merchant, 0)]
    block["etype"] = np.where(is_login, LOGIN, kind[category]).astype(np.int8)

    shift_log = np.array([c.log_amount_shift for c in CATEGORIES])[category]
    amount = rng.lognormal(world.amount_mu[account] + shift_log, world.amount_sigma[account])
    # Now and then a big-ticket purchase (a laptop, a holiday), more often on a trip.
    big_ticket = rng.random(n) < np.where(travelling, 0.06, 0.015)
    amount = np.where(big_ticket, amount * rng.uniform(4, 15, n), amount)
    amount = np.where(is_claim, rng.lognormal(np.log(600), 0.8, n), amount)
    block["amount"] = np.where(is_login, np.nan, np.round(np.maximum(amount, 0.5), 2))
    block["currency"] = np.where(is_login, 0, world.currency[account]).astype(np.int8)

    failed = rng.random(n) < world.fail_rate[account]
    status = np.where(failed, np.where(rng.random(n) < 0.7, FAILED, DECLINED), SUCCESS)
    block["status"] = np.where(is_txn, status, NO_STATUS).astype(np.int8)

    session = rng.lognormal(world.session_mu[account], 0.6)
    block["session"] = np.where(is_login, np.clip(session, 0.2, 240.0), np.nan)

    return _concat([block, _signups(world, accounts)])


def _signups(world: _World, accounts: np.ndarray) -> dict[str, np.ndarray]:
    """A sign-up event at creation for accounts opened during the simulation."""
    new = accounts[world.created_ns[accounts] >= world.start_ns]
    block = _empty_block(len(new))
    block["account"], block["ts"] = new, world.created_ns[new]
    block["etype"][:] = SIGNUP
    block["device"], block["ip"] = world.devices[new, 0], world.ips[new, 0]
    block["lat"], block["lon"] = world.home_lat[new], world.home_lon[new]
    block["city"] = world.home_city[new].astype(np.int16)
    return _concat([block, _first_steps(world, new)])


def _first_steps(world: _World, new: np.ndarray) -> dict[str, np.ndarray]:
    """Honest new customers try the service within hours of signing up, at any hour:
    a login or two and often a first purchase, sometimes a large one."""
    rng = world.rng
    sizes = 1 + rng.poisson(1.2, len(new))
    account = np.repeat(new, sizes)
    n = len(account)
    offset = _segment_cumsum(rng.exponential(40, n) * MINUTE_NS, sizes).astype(np.int64)
    block = _empty_block(n)
    block["account"], block["ts"] = account, world.created_ns[account] + MINUTE_NS + offset
    is_login = _segment_position(sizes) == 0
    block["device"], block["ip"] = world.devices[account, 0], world.ips[account, 0]
    block["lat"] = world.home_lat[account] + rng.normal(0, 0.01, n)
    block["lon"] = world.home_lon[account] + rng.normal(0, 0.015, n)
    block["city"] = world.home_city[account].astype(np.int16)
    merchant = world.favourites[account, 0]
    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    block["merchant"] = np.where(is_login, -1, merchant)
    block["etype"] = np.where(is_login, LOGIN, kind[world.merchant_category[merchant]]).astype(np.int8)
    amount = world.typical_amount(account) * rng.lognormal(0.3, 0.8, n)
    block["amount"] = np.where(is_login, np.nan, np.round(np.maximum(amount, 0.5), 2))
    block["currency"] = np.where(is_login, 0, world.currency[account]).astype(np.int8)
    block["status"] = np.where(is_login, NO_STATUS, _pick_status(rng, n, 0.93, 0.04)).astype(np.int8)
    block["session"] = np.where(is_login, rng.lognormal(np.log(8.0), 0.6, n), np.nan)
    return _select(block, block["ts"] < world.end_ns)


# --------------------------------------------------------------------------- fraud scenarios

_RING_EVENTS_PER_MEMBER = 8.0


def _account_takeover(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A new device far from home logs in a few times, then spends big within an hour or two."""
    rng = world.rng
    budget = world.fraud_budget * SCENARIO_SHARE["account_takeover"]
    sizes = _sizes_for_budget(rng, budget, lambda k: 3 + np.minimum(rng.poisson(4.0, k), 9))
    instances = len(sizes)
    # A few logins first, always leaving at least two payments.
    n_logins = np.clip(1 + rng.poisson(1.5, instances), 1, np.minimum(5, sizes - 2))

    victims = world.take_victims(instances)
    campaign = _campaigns(rng, instances, 6)
    n_campaigns = campaign.max() + 1
    campaign_city = _ATTACKER_FIRST + rng.integers(0, len(ATTACKER_CITIES), n_campaigns)
    campaign_net = _hosting_ranges(rng, n_campaigns)
    campaign_start = _sample_times(rng, n_campaigns, world.start_ns + DAY_NS, world.end_ns - 6 * HOUR_NS, _FRAUD_WEEK)

    # Attackers far from the victim: if the campaign's city is too close, the instance
    # comes from the attacker city farthest from the victim's home.
    city = campaign_city[campaign]
    attackers = np.arange(_ATTACKER_FIRST, _DATACENTER_FIRST)
    too_close = _haversine_km(world.home_lat[victims], world.home_lon[victims], _CITY_LAT[city], _CITY_LON[city]) < 1000
    if too_close.any():
        far = _haversine_km(world.home_lat[victims][too_close, None], world.home_lon[victims][too_close, None],
                            _CITY_LAT[attackers][None, :], _CITY_LON[attackers][None, :])
        city[too_close] = attackers[far.argmax(axis=1)]

    start = campaign_start[campaign] + (np.minimum(rng.exponential(3, instances), 24) * HOUR_NS).astype(np.int64)
    start = np.minimum(start, world.end_ns - 4 * HOUR_NS)
    device = world.new_devices(instances)
    ip = campaign_net[campaign] + rng.integers(1, 255, instances)
    # Subtler takeovers: a residential proxy in the victim's own city and ISP range (a
    # familiar network, no distance), some even on the victim's own hijacked device;
    # many then spend only a few times the usual amount.
    local = rng.random(instances) < 0.35
    home = world.home_city[victims]
    city = np.where(local, home, city)
    ip = np.where(local, world.isp_blocks[home, rng.integers(0, 3, instances)] + rng.integers(1, 65535, instances), ip)
    device = np.where(local & (rng.random(instances) < 0.4), world.devices[victims, 0], device)
    modest = rng.random(instances) < 0.4

    inst = np.repeat(np.arange(instances), sizes)
    pos = _segment_position(sizes)
    is_login = pos < n_logins[inst]
    n = len(inst)
    gap_min = np.where(is_login, rng.exponential(4, n), rng.exponential(10, n) + 1)
    gap_min[_segment_starts(sizes)] = 0
    offset = _segment_cumsum((gap_min * MINUTE_NS).astype(np.int64), sizes)

    block = _empty_block(n)
    acct = victims[inst]
    block["account"], block["ts"] = acct, start[inst] + offset
    block["device"], block["ip"] = device[inst], ip[inst]
    block["city"] = city[inst].astype(np.int16)
    near = local[inst]
    block["lat"] = np.where(near, world.home_lat[acct] + rng.normal(0, 0.02, n), _CITY_LAT[city[inst]] + rng.normal(0, 0.05, n))
    block["lon"] = np.where(near, world.home_lon[acct] + rng.normal(0, 0.03, n), _CITY_LON[city[inst]] + rng.normal(0, 0.07, n))
    cashout = world.merchants_in(_CASHOUT_CATEGORIES)
    merchant = rng.choice(cashout, n)
    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    block["merchant"] = np.where(is_login, -1, merchant)
    block["etype"] = np.where(is_login, LOGIN, kind[world.merchant_category[merchant]]).astype(np.int8)
    amount = np.maximum(world.typical_amount(acct) * rng.uniform(5, 15, n), rng.lognormal(np.log(450), 0.5, n))
    amount = np.where(modest[inst], world.typical_amount(acct) * rng.uniform(1.5, 4, n), amount)
    block["amount"] = np.where(is_login, np.nan, np.round(amount, 2))
    block["currency"] = np.where(is_login, 0, world.currency[acct]).astype(np.int8)
    block["status"] = np.where(is_login, NO_STATUS, _pick_status(rng, n, 0.85, 0.10)).astype(np.int8)
    block["session"] = np.where(is_login, rng.lognormal(np.log(2.0), 0.5, n), np.nan)
    return block


def _card_testing(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stolen cards probed with tiny payments, mostly refused, then one large payment each."""
    rng = world.rng
    budget = world.fraud_budget * SCENARIO_SHARE["card_testing"]
    sizes = _sizes_for_budget(rng, budget, lambda k: 4 + np.minimum(rng.poisson(2.0, k), 7))
    instances = len(sizes)
    n_probes = sizes - 1

    victims = world.take_victims(instances)
    campaign = _campaigns(rng, instances, 8)
    n_campaigns = campaign.max() + 1
    # One testing rig per campaign: a device, a /24, a city, a small shop to probe and a
    # place to cash out.
    campaign_device = world.new_devices(n_campaigns)
    campaign_net = _hosting_ranges(rng, n_campaigns)
    campaign_city = _ATTACKER_FIRST + rng.integers(0, len(ATTACKER_CITIES), n_campaigns)
    campaign_probe = rng.choice(world.merchants_in(("digital_goods", "subscriptions")), n_campaigns)
    campaign_cashout = rng.choice(world.merchants_in(("electronics", "gift_cards")), n_campaigns)
    campaign_start = _sample_times(rng, n_campaigns, world.start_ns, world.end_ns - 6 * HOUR_NS, _FRAUD_WEEK)
    start = campaign_start[campaign] + (rng.uniform(0, 2, instances) * HOUR_NS).astype(np.int64)

    inst = np.repeat(np.arange(instances), sizes)
    pos = _segment_position(sizes)
    is_big = pos == n_probes[inst]
    n = len(inst)
    gap_s = np.where(is_big, rng.exponential(20 * 60, n) + 120, rng.exponential(60, n) + 5)
    gap_s[_segment_starts(sizes)] = 0
    offset = _segment_cumsum((gap_s * SECOND_NS).astype(np.int64), sizes)

    block = _empty_block(n)
    acct, camp = victims[inst], campaign[inst]
    block["account"], block["ts"] = acct, start[inst] + offset
    block["device"] = campaign_device[camp]
    block["ip"] = campaign_net[camp] + 1 + rng.integers(0, 2, n)
    city = campaign_city[camp]
    block["city"] = city.astype(np.int16)
    block["lat"] = _CITY_LAT[city] + rng.normal(0, 0.03, n)
    block["lon"] = _CITY_LON[city] + rng.normal(0, 0.04, n)
    merchant = np.where(is_big, campaign_cashout[camp], campaign_probe[camp])
    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    block["merchant"] = merchant
    block["etype"] = kind[world.merchant_category[merchant]]
    probe_amount = np.round(rng.uniform(0.5, 4.99, n), 2)
    big_amount = np.round(rng.lognormal(np.log(700), 0.45, n), 2)
    # Subtler rigs probe with amounts in the card holder's normal range, which mostly go
    # through, and cash out at only a few times the usual spend.
    in_range = (rng.random(instances) < 0.4)[inst]
    typical = world.typical_amount(acct)
    probe_amount = np.where(in_range, np.round(typical * rng.lognormal(0, 0.3, n), 2), probe_amount)
    big_amount = np.where(in_range, np.round(typical * rng.uniform(2, 5, n), 2), big_amount)
    block["amount"] = np.where(is_big, big_amount, probe_amount)
    block["currency"] = world.currency[acct]
    # The first two probes are always refused; later ones sometimes get through.
    probe_status = np.where(pos < 2, _pick_status(rng, n, 0.0, 0.6), _pick_status(rng, n, 0.35, 0.4))
    probe_status = np.where(in_range, _pick_status(rng, n, 0.75, 0.15), probe_status)
    block["status"] = np.where(is_big, _pick_status(rng, n, 0.8, 0.2), probe_status).astype(np.int8)
    return block


def _fraud_ring(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fake accounts opened in a burst that share two devices and one /24, acting together
    at night in one city: logins, then cash-out purchases or insurance claims."""
    rng = world.rng
    members_all = np.flatnonzero(world.is_ring)
    blocks = []
    first = 0
    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    cashout = world.merchants_in(("electronics", "gift_cards"), online=False)
    insurers = np.flatnonzero(world.merchant_category == _CATEGORY_INDEX["insurance"])
    for size in world.ring_sizes:
        members = members_all[first:first + size]
        first += size
        city = int(rng.choice(len(HOME_CITIES), p=_HOME_WEIGHT))
        devices = world.new_devices(1 if size <= 3 else 2)
        # Half the rings hide behind a residential /24 in their city rather than hosting space.
        if rng.random() < 0.5:
            net = world.isp_blocks[city, rng.integers(0, 3)] + 256 * int(rng.integers(1, 255))
        else:
            net = _hosting_ranges(rng, 1)[0]
        ips = net + rng.choice(np.arange(2, 254), size=rng.integers(2, 5), replace=False)
        claims_ring = rng.random() < 0.3
        shops = rng.choice(insurers if claims_ring else cashout, 2)
        # Created early enough that its working nights (up to 11 days later) fit the period.
        latest = max(world.start_ns + DAY_NS, world.end_ns - 12 * DAY_NS)
        created0 = int(_sample_times(rng, 1, world.start_ns, latest, _FRAUD_WEEK)[0])
        created = created0 + np.cumsum((rng.exponential(1.5, size) * HOUR_NS).astype(np.int64))
        world.created_ns[members] = created
        # Nights the ring works, at the ring's own hour (the hour of its sign-up burst).
        n_nights = int(rng.integers(2, 6))
        nights = np.sort(rng.choice(np.arange(1, 12), size=n_nights, replace=False))
        window_start = created0 + nights * DAY_NS

        # Each member joins each night with p=0.85: a login, then 1-3 purchases or a claim.
        joins = rng.random((size, n_nights)) < 0.85
        member_idx, night_idx = np.nonzero(joins)
        n_txn = np.where(claims_ring, 1, 1 + np.minimum(rng.poisson(0.7, len(member_idx)), 2))
        per_visit = 1 + n_txn
        m = np.repeat(member_idx, per_visit)
        night = np.repeat(night_idx, per_visit)
        pos = _segment_position(per_visit)
        is_login = pos == 0
        # Hours into the night's two-hour window; a visit's events minutes apart.
        offset = _segment_cumsum(rng.exponential(8, len(m)), per_visit) / 60 + np.repeat(
            rng.uniform(0, 2, len(member_idx)), per_visit)
        ts = window_start[night] + (offset * HOUR_NS).astype(np.int64)

        n_signup = size
        n = n_signup + len(m)
        block = _empty_block(n)
        block["account"] = np.concatenate([members, members[m]])
        block["ts"] = np.concatenate([created, ts])
        member_of_row = np.concatenate([np.arange(size), m])
        # Each member mostly uses "its" device of the two, so every device has several users.
        own = devices[member_of_row % len(devices)]
        block["device"] = np.where(rng.random(n) < 0.8, own, rng.choice(devices, n))
        block["ip"] = rng.choice(ips, n)
        block["city"][:] = city
        block["lat"] = _CITY_LAT[city] + rng.normal(0, 0.02, n)
        block["lon"] = _CITY_LON[city] + rng.normal(0, 0.03, n)
        etype = np.concatenate([np.full(size, SIGNUP), np.where(is_login, LOGIN, 0)])
        merchant = np.concatenate([np.full(size, -1), np.where(is_login, -1, rng.choice(shops, len(m)))])
        txn = merchant >= 0
        etype = np.where(txn, kind[world.merchant_category[np.maximum(merchant, 0)]], etype)
        block["etype"] = etype.astype(np.int8)
        block["merchant"] = merchant
        amount = rng.lognormal(np.log(1800), 0.4, n) if claims_ring else rng.lognormal(np.log(260), 0.6, n)
        block["amount"] = np.where(txn, np.round(amount, 2), np.nan)
        block["currency"] = np.where(txn, _CITY_CURRENCY[city], 0).astype(np.int8)
        status = np.where(etype == CLAIM, NO_STATUS, _pick_status(rng, n, 0.9, 0.07))
        block["status"] = np.where(txn, status, NO_STATUS).astype(np.int8)
        block["session"] = np.where(etype == LOGIN, rng.lognormal(np.log(5), 0.5, n), np.nan)
        blocks.append(_select(block, block["ts"] < world.end_ns))
    if not blocks:
        return _empty_block(0)
    return _concat(blocks)


def _bot(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scripted logins from one hosting-provider device: dozens an hour, seconds each."""
    rng = world.rng
    budget = world.fraud_budget * SCENARIO_SHARE["bot"]
    longest = max(12, min(200, int(budget)))  # small worlds get shorter runs
    sizes = _sizes_for_budget(
        rng, budget, lambda k: np.clip(rng.lognormal(np.log(40), 0.4, k), 12, longest).astype(np.int64))
    instances = len(sizes)
    victims = world.take_victims(instances)
    campaign = _campaigns(rng, instances, 3)
    n_campaigns = campaign.max() + 1
    campaign_city = _DATACENTER_FIRST + rng.integers(0, len(DATACENTER_CITIES), n_campaigns)
    campaign_net = _hosting_ranges(rng, n_campaigns)
    campaign_start = _sample_times(rng, n_campaigns, world.start_ns, world.end_ns - 6 * HOUR_NS, _FRAUD_WEEK)
    start = campaign_start[campaign] + (rng.exponential(1.0, instances) * HOUR_NS).astype(np.int64)
    device = world.new_devices(instances)
    ip = campaign_net[campaign] + rng.integers(1, 255, instances)

    inst = np.repeat(np.arange(instances), sizes)
    n = len(inst)
    # A third of the scripts pace themselves: minutes between tries, longer sessions.
    slow = (rng.random(instances) < 0.3)[inst]
    gap_s = np.where(slow, rng.exponential(600, n) + 60, rng.exponential(40, n) + 2)
    gap_s[_segment_starts(sizes)] = 0
    offset = _segment_cumsum((gap_s * SECOND_NS).astype(np.int64), sizes)

    block = _empty_block(n)
    block["account"], block["ts"] = victims[inst], start[inst] + offset
    block["etype"][:] = LOGIN
    block["device"], block["ip"] = device[inst], ip[inst]
    city = campaign_city[campaign[inst]]
    block["city"] = city.astype(np.int16)
    block["lat"] = _CITY_LAT[city] + rng.normal(0, 0.02, n)
    block["lon"] = _CITY_LON[city] + rng.normal(0, 0.03, n)
    block["session"] = np.clip(rng.lognormal(np.log(0.08), 0.5, n), 0.01, 0.5)  # 1-30 seconds
    block["session"] = np.where(slow, np.clip(rng.lognormal(np.log(1.0), 0.6, n), 0.2, 6.0), block["session"])
    return _select(block, block["ts"] < world.end_ns)


def _compromised_merchant(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """For a few days most payments at one shop's terminal are cloned customer cards."""
    rng = world.rng
    cfg = world.config
    budget = world.fraud_budget * SCENARIO_SHARE["compromised_merchant"]
    instances = int(np.clip(round(budget / 400), 1, 6))
    per_instance = budget / instances
    shops = np.flatnonzero((world.merchant_city >= 0) & (world.merchant_popularity > 0))
    legit_at = legit["merchant"]
    kind = np.array([c.kind for c in CATEGORIES], dtype=np.int8)
    established = world.victim_order
    blocks = []
    used: set[int] = set()
    for _ in range(instances):
        length_days = float(rng.uniform(2, 5))
        first_day = float(rng.uniform(0, max(cfg.days - length_days - 0.5, 0.01)))
        lo = world.start_ns + int(first_day * DAY_NS)
        hi = min(lo + int(length_days * DAY_NS), world.end_ns)
        in_window = (legit["ts"] >= lo) & (legit["ts"] < hi) & (legit_at >= 0)
        traffic = np.bincount(legit_at[in_window], minlength=len(world.merchant_category))[shops]
        # A shop with some but modest traffic, so the fraud can make up most of its payments.
        fits = np.flatnonzero((traffic > 0) & (2 * traffic + 2 <= per_instance))
        fits = np.array([i for i in fits if shops[i] not in used], dtype=np.int64)
        if len(fits) == 0:
            fits = np.array([int(np.argmin(traffic))])
        choice = int(rng.choice(fits))
        shop = int(shops[choice])
        used.add(shop)
        n = int(max(round(per_instance), 2 * traffic[choice] + 2))
        city = int(world.merchant_city[shop])
        local_week = np.roll(_SHOP_WEEK, -int(_CITY_OFFSET[city]))

        block = _empty_block(n)
        block["account"] = rng.choice(established, n)
        block["ts"] = _sample_times(rng, n, lo, hi, local_week)
        # Cloned cards presented through a handful of phones on the shop's mobile network.
        block["device"] = rng.choice(world.new_devices(3), n)
        block["ip"] = world.mobile_blocks[city] + rng.integers(1, 65535, n)
        block["city"][:] = city
        block["lat"] = world.merchant_lat[shop] + rng.normal(0, 0.0005, n)
        block["lon"] = world.merchant_lon[shop] + rng.normal(0, 0.0007, n)
        block["merchant"][:] = shop
        block["etype"][:] = kind[world.merchant_category[shop]]
        block["amount"] = np.round(rng.lognormal(np.log(180), 0.6, n), 2)
        block["currency"] = world.currency[block["account"]]
        block["status"] = _pick_status(rng, n, 0.9, 0.07)
        blocks.append(block)
    return _concat(blocks)


def _drift_scenario(world: _World, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """New in the last `drift_days`: mid-size night-time purchases from new devices in a
    country never seen before, growing day by day. No login first, modest amounts."""
    rng = world.rng
    cfg = world.config
    budget = world.fraud_budget * SCENARIO_SHARE["drift_scenario"]
    sizes = _sizes_for_budget(rng, budget, lambda k: 2 + np.minimum(rng.poisson(1.2, k), 4))
    instances = len(sizes)
    victims = world.take_victims(instances)
    campaign = _campaigns(rng, instances, 4)
    n_campaigns = campaign.max() + 1
    lo = world.end_ns - cfg.drift_days * DAY_NS
    campaign_city = _DRIFT_FIRST + rng.integers(0, len(DRIFT_CITIES), n_campaigns)
    campaign_net = _hosting_ranges(rng, n_campaigns)
    campaign_start = np.empty(n_campaigns, dtype=np.int64)
    for i, c in enumerate(campaign_city):
        local_week = np.roll(_DRIFT_WEEK, -int(_CITY_OFFSET[c]))
        campaign_start[i] = _sample_times(rng, 1, lo, world.end_ns - 4 * HOUR_NS, local_week, ramp=True)[0]
    start = campaign_start[campaign] + (np.minimum(rng.exponential(1.5, instances), 4) * HOUR_NS).astype(np.int64)
    device = world.new_devices(instances)
    ip = campaign_net[campaign] + rng.integers(1, 255, instances)

    inst = np.repeat(np.arange(instances), sizes)
    n = len(inst)
    gap_min = rng.exponential(12, n) + 1
    gap_min[_segment_starts(sizes)] = 0
    offset = _segment_cumsum((gap_min * MINUTE_NS).astype(np.int64), sizes)

    block = _empty_block(n)
    acct = victims[inst]
    block["account"], block["ts"] = acct, start[inst] + offset
    block["device"], block["ip"] = device[inst], ip[inst]
    city = campaign_city[campaign[inst]]
    block["city"] = city.astype(np.int16)
    block["lat"] = _CITY_LAT[city] + rng.normal(0, 0.05, n)
    block["lon"] = _CITY_LON[city] + rng.normal(0, 0.07, n)
    merchant = rng.choice(world.merchants_in(("fashion", "digital_goods", "entertainment")), n)
    block["merchant"] = merchant
    block["etype"][:] = PURCHASE
    block["amount"] = np.round(np.clip(rng.lognormal(np.log(75), 0.35, n), 25, 250), 2)
    block["currency"] = world.currency[acct]
    block["status"] = _pick_status(rng, n, 0.95, 0.03)
    return _select(block, block["ts"] < world.end_ns)


_SCENARIO_BUILDERS: dict[str, Callable[[_World, dict[str, np.ndarray]], dict[str, np.ndarray]]] = {
    "account_takeover": _account_takeover,
    "card_testing": _card_testing,
    "fraud_ring": _fraud_ring,
    "bot": _bot,
    "compromised_merchant": _compromised_merchant,
    "drift_scenario": _drift_scenario,
}


# --------------------------------------------------------------------------- to a DataFrame


def _assemble(world: _World, block: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sort by time, attach labels and periods, and turn codes into the public columns."""
    rng, cfg = world.rng, world.config
    # Millisecond timestamps, like real event streams; generation order breaks ties.
    block["ts"] = block["ts"] - block["ts"] % MS_NS
    order = np.argsort(block["ts"], kind="stable")
    block = {key: values[order] for key, values in block.items()}
    n = len(block["ts"])

    # Labels arrive after a lognormal delay with the configured mean, never under 3 hours.
    sigma = 0.8
    mu = np.log(cfg.label_delay_days * DAY_NS) - sigma**2 / 2
    delay = np.maximum(rng.lognormal(mu, sigma, n), 3 * HOUR_NS).astype(np.int64)
    label_known = block["ts"] + delay - delay % SECOND_NS

    # Labels are noisy: not every fraud is reported (a refused probe of a few dollars
    # rarely is), and a few legitimate payments come back as chargebacks ("friendly
    # fraud"). `scenario` keeps the truth.
    truth = block["fraud"]
    unreported = rng.random(n) < np.where(block["scenario"] == SCENARIOS.index("card_testing") + 1, 0.3, 0.08)
    chargeback = ~truth & (block["status"] == SUCCESS) & (rng.random(n) < 0.0015)
    label = (truth & ~unreported) | chargeback

    unlabeled_from = world.end_ns - cfg.unlabeled_days * DAY_NS
    account_width = max(5, len(str(world.n_accounts - 1)))
    category_names = [c.name for c in CATEGORIES]
    merchant = block["merchant"]
    created = world.created_ns[block["account"]]
    columns = {
        "event_id": _event_ids(n),
        "account_id": _format_codes(block["account"], lambda i: f"acct-{i:0{account_width}d}"),
        "timestamp": _utc(block["ts"]),
        "event_type": _from_table(EVENT_TYPES, block["etype"]),
        "amount": block["amount"],
        "currency": _from_table(CURRENCIES, block["currency"]),
        "payment_status": _from_table(PAYMENT_STATUSES, block["status"]),
        "device_id": _format_codes(block["device"], lambda i: f"dev-{i:07d}"),
        "ip_address": _format_codes(block["ip"], _dotted_ip),
        "latitude": np.round(block["lat"], 5),
        "longitude": np.round(block["lon"], 5),
        "country": _from_table(tuple(c.country for c in ALL_CITIES), block["city"]),
        "session_duration": np.round(block["session"], 3),
        "merchant_id": _format_codes(merchant, lambda i: f"merch-{i:05d}" if i >= 0 else ""),
        "category": _from_table(("",) + tuple(category_names),
                                np.where(merchant >= 0, world.merchant_category[np.maximum(merchant, 0)] + 1, 0)),
        "account_created_at": _utc(created - created % MS_NS),
        "is_fraud": label,
        "label_known_at": _utc(label_known),
        "scenario": _from_table(("",) + SCENARIOS, block["scenario"]),
        "period": _from_table(("history", "unlabeled"), (block["ts"] >= unlabeled_from).astype(np.int8)),
    }
    return pd.DataFrame(columns, copy=False)


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")


def _from_table(table: tuple[str, ...], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.array(list(table), dtype="str").take(np.asarray(codes, dtype=np.int64))


def _format_codes(codes: np.ndarray, fmt: Callable[[int], str]) -> pd.api.extensions.ExtensionArray:
    """Format each distinct code once, then spread the strings over the rows."""
    distinct, inverse = np.unique(codes, return_inverse=True)
    return _from_table(tuple(fmt(int(c)) for c in distinct), inverse)


def _dotted_ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _event_ids(n: int) -> pd.api.extensions.ExtensionArray:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), 9, "0")
    return pd.array(pc.binary_join_element_wise("evt-", digits, ""), dtype="str")
