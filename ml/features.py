"""Point-in-time features, defined once and computed two ways.

`batch_features` computes every feature for a whole table of events at once (training,
batch scoring); `online_features` computes them for one incoming event from that
account's recent history (live scoring). Both follow the same definition:

* The history of an event is every earlier event of the same account in ingestion order:
  rows sorted by (timestamp, seq) before it. Ties in time count as history when they
  were stored first, which is exactly what a live scorer sees.
* Windows are closed on both ends at millisecond resolution: "events in the last 24 h"
  counts history rows with `t - 24h <= t_j <= t`.
* A feature whose inputs a dataset does not have is NaN for every row and is dropped by
  `available_features` before training.

Times are compared as integer milliseconds since the epoch so that both paths agree to
the bit on window edges.

Both paths live in this one module on purpose (past 1,000 lines): each feature's batch and
online computation sit a scroll apart, so one added to a path is visibly missing from the
other, and the parity test reads them as one definition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from core.forked import columns_in_child

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 24 * MS_PER_HOUR
WINDOW_1H = MS_PER_HOUR
WINDOW_24H = MS_PER_DAY
WINDOW_7D = 7 * MS_PER_DAY
WINDOW_30D = 30 * MS_PER_DAY
# The longest window any feature looks back over: the online path loads this much history.
HISTORY_WINDOW_MS = WINDOW_30D
NIGHT_HOURS = (0, 1, 2, 3, 4, 5)
EARTH_RADIUS_KM = 6371.0088
# Spreads of locations below this count as none: a phone's position is no more precise,
# and it keeps the rounding of the batch path's window sums from showing as metres.
MIN_LOCATION_SPREAD_KM = 0.01
FAILED_STATUSES = ("failed", "declined")
WEEKEND_DAYS = (5, 6)
# Entities (device, IP, merchant) are looked at over this window; an event's own entity
# rows older than this are never fetched, so live cost stays bounded.
ENTITY_WINDOW_MS = WINDOW_30D
# Live scoring reads at most this many of a device's or IP's other-account events (the
# latest): a hub's thousands would cost every request that touches it tens of ms. Batch
# features read all; the two differ only for hubs, where both say "very many accounts".
ENTITY_ROWS_CAP = 200
# `<entity>_fraud_rate_learned_7d`: labels of the entity window's events that became known
# within this long before the event.
LEARNED_WINDOW_MS = WINDOW_7D
# The kinds of node in the link graph. One letter each: they prefix every stored node
# (`scoring.models.LinkGroup.node`, e.g. "d:dev-1"), and that table holds millions of them.
NODE_ACCOUNT, NODE_DEVICE, NODE_IP = "a", "d", "i"
# Which event field each kind of node comes from.
NODE_FIELDS = ((NODE_ACCOUNT, "account_id"), (NODE_DEVICE, "device_id"), (NODE_IP, "ip_address"))

# Devices and IP addresses used by more accounts than these in a window link nobody in
# the ring size's groups. An address of more than a household's few accounts is a gateway
# (an office's NAT, public Wi-Fi, a carrier); a device of more than a ring's ten a shop's
# terminal or one attacker's tool, which `accounts_on_device_30d` shows already. Left in,
# such hubs chain half of all accounts into one group whose size swings from day to day.
RING_MAX_ACCOUNTS = {NODE_DEVICE: 10, NODE_IP: 5}
# Batches of at least this many events compute the features of devices and IPs shared
# between accounts (other accounts, rings) in a forked process while this one computes the
# rest, which takes about as long.
FORK_MIN_ROWS = 200_000
# When a dataset gives a label but not when it became known, assume it took this long.
DEFAULT_LABEL_DELAY_MS = 7 * MS_PER_DAY
# A label is never usable at the instant of its own event (no feature sees its own label).
MIN_LABEL_DELAY_MS = 1


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    inputs: tuple[str, ...]
    describe: str  # plain-words template, filled with the value by `describe_feature`


# Window aggregates of the account's own history, declared once as (window × statistic):
# both paths compute every entry of this table with the same two primitives (a count or a
# sum of a per-event quantity over the window's history rows), so a new one is one line.
_WINDOW_WORDS = {"1h": "hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}
_WINDOW_MS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}


@dataclass(frozen=True)
class WindowAggregate:
    """A statistic of the account's earlier events within a window (the event excluded).

    `statistic` is "amount_sum" (money spent), "count" (events) or "night_share" (share of
    the events at night, NaN without events)."""

    window: str
    statistic: str

    @property
    def name(self) -> str:
        return {"amount_sum": f"amount_sum_{self.window}", "count": f"events_{self.window}",
                "night_share": f"night_share_{self.window}"}[self.statistic]

    @property
    def width_ms(self) -> int:
        return _WINDOW_MS[self.window]

    def spec(self) -> "FeatureSpec":
        words = _WINDOW_WORDS[self.window]
        if self.statistic == "amount_sum":
            return FeatureSpec(self.name, ("amount",), f"{{value:,.2f}} spent by this account in the previous {words}")
        if self.statistic == "count":
            return FeatureSpec(self.name, (), f"{{value:.0f}} events from this account in the last {words}")
        return FeatureSpec(self.name, (), f"{{value_pct}} of this account's events of the last {words} were at night")


ACCOUNT_WINDOW_AGGREGATES: tuple[WindowAggregate, ...] = (
    WindowAggregate("1h", "amount_sum"),
    WindowAggregate("24h", "amount_sum"),
    WindowAggregate("7d", "amount_sum"),
    WindowAggregate("30d", "count"),
    WindowAggregate("30d", "night_share"),
)



FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("amount", ("amount",), "amount of {value:,.2f}"),
    FeatureSpec("hours_since_prev_event", (), "{value:,.1f} hours since the account's previous event"),
    FeatureSpec("events_1h", (), "{value:.0f} events from this account in the last hour"),
    FeatureSpec("events_24h", (), "{value:.0f} events from this account in the last 24 hours"),
    FeatureSpec("events_7d", (), "{value:.0f} events from this account in the last 7 days"),
    FeatureSpec("amount_mean_30d", ("amount",), "the account's average amount over 30 days is {value:,.2f}"),
    FeatureSpec("amount_zscore_30d", ("amount",), "amount is {value:+.1f} standard deviations from the account's 30-day normal"),
    FeatureSpec("amount_to_mean_30d", ("amount",), "amount is {value:,.1f}× the account's 30-day average"),
    FeatureSpec("failed_payments_24h", ("payment_status",), "{value:.0f} failed payments in the last 24 hours"),
    FeatureSpec("failed_payments_30d", ("payment_status",), "{value:.0f} failed payments in the last 30 days"),
    FeatureSpec("device_is_new", ("device_id",), "{value_yesno} device not seen on this account in 30 days"),
    FeatureSpec("ip_is_new", ("ip_address",), "{value_yesno} IP address not seen on this account in 30 days"),
    FeatureSpec("km_from_prev_event", ("latitude", "longitude"), "{value:,.0f} km from the account's previous event"),
    FeatureSpec("travel_speed_kmh", ("latitude", "longitude"), "implied travel speed of {value:,.0f} km/h since the previous event"),
    FeatureSpec("session_duration", ("session_duration",), "session of {value:,.1f} minutes"),
    FeatureSpec("hour_of_day", (), "at {value:.0f}:00 UTC"),
    FeatureSpec("day_of_week", (), "on {value_weekday}"),
    FeatureSpec("is_night", (), "{value_yesno} at night (00:00–05:59 UTC)"),
    FeatureSpec("account_age_days", ("account_created_at",), "account is {value:,.1f} days old"),
    # Spending over shorter windows.
    FeatureSpec("amount_to_mean_24h", ("amount",), "amount is {value:,.1f}× the account's average of the last 24 hours"),
    FeatureSpec("amount_to_mean_7d", ("amount",), "amount is {value:,.1f}× the account's 7-day average"),
    FeatureSpec("amount_zscore_7d", ("amount",), "amount is {value:+.1f} standard deviations from the account's 7-day normal"),
    FeatureSpec("hours_since_failed_payment", ("payment_status",), "{value:,.1f} hours since the account's last failed payment"),
    # Devices and networks.
    FeatureSpec("distinct_devices_30d", ("device_id",), "{value:.0f} devices used by this account in the last 30 days"),
    FeatureSpec("distinct_ips_30d", ("ip_address",), "{value:.0f} IP addresses used by this account in the last 30 days"),
    FeatureSpec("accounts_on_device_30d", ("device_id",), "{value:.0f} other accounts used this device in the last 30 days"),
    FeatureSpec("accounts_on_ip_30d", ("ip_address",), "{value:.0f} other accounts used this IP address in the last 30 days"),
    # Geography.
    FeatureSpec("distinct_countries_30d", ("country",), "{value:.0f} countries seen on this account in the last 30 days"),
    FeatureSpec("km_from_usual_location_30d", ("latitude", "longitude"), "{value:,.0f} km from where this account usually is (30-day average location)"),
    FeatureSpec("location_spread_km_30d", ("latitude", "longitude"), "the account's locations of the last 30 days lie {value:,.0f} km from their centre on average (root mean square)"),
    # Sessions.
    FeatureSpec("session_to_mean_30d", ("session_duration",), "session is {value:,.1f}× the account's usual length"),
    FeatureSpec("logins_24h", ("event_type",), "{value:.0f} logins from this account in the last 24 hours"),
    FeatureSpec("logins_24h_to_daily_mean_30d", ("event_type",), "{value:,.1f}× the account's usual number of logins per day"),
    # Time.
    FeatureSpec("is_weekend", (), "{value_yesno} weekend day"),
    # Entities and rings: fraud rates use only labels known before the event.
    FeatureSpec("device_fraud_rate_30d", ("device_id", "is_fraud"), "{value_pct} of this device's events with a known label in the last 30 days were fraud"),
    FeatureSpec("ip_fraud_rate_30d", ("ip_address", "is_fraud"), "{value_pct} of this IP address's events with a known label in the last 30 days were fraud"),
    FeatureSpec("merchant_fraud_rate_30d", ("merchant_id", "is_fraud"), "{value_pct} of this merchant's events with a known label in the last 30 days were fraud"),
    # The same rates over only the labels learned in the last 7 days: a fresh compromise
    # (a skimmed terminal, a stolen device) shows here days before it moves a 30-day rate,
    # whatever the label delay, since the window follows when labels arrive.
    *(FeatureSpec(f"{kind}_fraud_rate_learned_7d", (column, "is_fraud"),
                  f"{{value_pct}} of the labels learned in the last 7 days about this {words}'s events were fraud")
      for kind, column, words in (("device", "device_id", "device"), ("ip", "ip_address", "IP address"),
                                  ("merchant", "merchant_id", "merchant"))),
    FeatureSpec("ring_size_30d", ("device_id", "ip_address"), "in a group of {value:.0f} accounts linked through shared devices or IP addresses in the 30 days before today"),
    *(spec for aggregate in ACCOUNT_WINDOW_AGGREGATES for spec in [aggregate.spec()]),
    # Counter-parties the account is used to.
    FeatureSpec("distinct_merchants_30d", ("merchant_id",), "{value:.0f} merchants used by this account in the last 30 days"),
    FeatureSpec("merchant_is_new", ("merchant_id",), "{value_yesno} merchant not used by this account in 30 days"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
# Per contract field, a feature that is NaN exactly when an event does not send the field:
# how the missing-value policy (`ml.missing`) tells "not sent" from "sent, nothing known".
FIELD_WITNESSES: dict[str, str] = {
    "amount": "amount",
    "device_id": "device_is_new",
    "ip_address": "ip_is_new",
    "merchant_id": "merchant_is_new",
    "account_created_at": "account_age_days",
    "session_duration": "session_duration",
}


def feature_fields(name: str) -> tuple[str, ...]:
    """The event fields a feature is computed from (labels are not a field an event sends)."""
    return tuple(f for f in _SPEC_BY_NAME[name].inputs if f != "is_fraud")


def field_presence(events: pd.DataFrame, fields: Iterable[str] = FIELD_WITNESSES) -> dict[str, float]:
    """Share of events that send each field (not empty)."""
    n = max(len(events), 1)
    out = {}
    for name in fields:
        if name not in events.columns:
            out[name] = 0.0
            continue
        column = events[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            present = column.astype("string").fillna("").ne("")
        else:
            present = column.notna()
        out[name] = float(present.sum()) / n
    return out
# The features `_shared_entity_features` computes.
SHARED_ENTITY_FEATURES: tuple[str, ...] = ("accounts_on_device_30d", "accounts_on_ip_30d", "ring_size_30d")
_SPEC_BY_NAME = {spec.name: spec for spec in FEATURES}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe_feature(name: str, value: float | None) -> str:
    """Plain words for one feature value, e.g. 'amount is 7.2× the account's 30-day average'."""
    spec = _SPEC_BY_NAME[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{name.replace('_', ' ')} unknown"
    return spec.describe.format(
        value=value,
        value_yesno="a" if value >= 0.5 else "not a",
        value_weekday=_WEEKDAYS[int(value) % 7],
        value_pct=f"{value:.0%}",
    ).replace("not a at night", "not at night").replace("a at night", "at night")


def available_features(events: pd.DataFrame) -> list[str]:
    """Features whose inputs are present (not all empty) in this dataset, in canonical order."""
    present = {col for col in events.columns if _has_values(events[col])}
    return [spec.name for spec in FEATURES if all(col in present for col in spec.inputs)]


def _has_values(column: pd.Series) -> bool:
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        return bool((column.fillna("").astype(str) != "").any())
    return bool(column.notna().any())


# --------------------------------------------------------------------------- batch path


def to_epoch_ms(values: pd.Series) -> np.ndarray:
    """Timestamps (tz-aware or naive UTC) to int64 milliseconds since the epoch; NaT -> min int."""
    ts = pd.to_datetime(values, utc=True)
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ms]").astype("int64").to_numpy()


def _float(events: pd.DataFrame, column: str) -> np.ndarray:
    if column not in events.columns:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def batch_features(events: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES, *, parallel: bool = False) -> pd.DataFrame:
    """Every feature (or those of `names`) for every event, point-in-time.

    Input: one row per event with the data-contract columns (at least account_id and
    timestamp) and optionally `seq`, the ingestion order used to break ties in time
    (defaults to row order). Output: a float64 DataFrame with one column per name,
    aligned to the input's index. With `parallel`, a batch of FORK_MIN_ROWS events or more
    computes part of the features in a forked process (for commands and training; a web or
    Celery worker does not fork).
    """
    return pd.DataFrame(batch_feature_matrix(events, names, parallel=parallel), index=events.index, columns=list(names), copy=False)


def batch_feature_matrix(events: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES, *, parallel: bool = False) -> np.ndarray:
    """`batch_features` as a float64 array of shape (events, len(names)), columns in the
    order of `names`: what a model predicts from, without a DataFrame in between."""
    n = len(events)
    if n == 0:
        return np.empty((0, len(names)))
    t = to_epoch_ms(events["timestamp"])
    seq = events["seq"].to_numpy() if "seq" in events.columns else np.arange(n)
    codes = {column: _column_codes(events, column) for column in ("account_id", "device_id", "ip_address", "country", "merchant_id")}
    rank = _time_rank(t, seq)
    # Features over devices and IPs shared between accounts come back in input order, from a
    # forked process for a big batch while this one computes the rest.
    shared_features = partial(_shared_entity_features, t, rank, codes, rings="ring_size_30d" in names)
    shared_later = columns_in_child(shared_features, SHARED_ENTITY_FEATURES, n, fork=parallel and n >= FORK_MIN_ROWS)
    account_codes = codes["account_id"]
    order = np.lexsort((seq, t, account_codes))
    acct = account_codes[order]
    ts = t[order]
    amount = _float(events, "amount")[order]
    lat = _float(events, "latitude")[order]
    lon = _float(events, "longitude")[order]

    position = np.arange(n)
    group_start = np.r_[0, np.flatnonzero(np.diff(acct)) + 1]
    first_of_group = np.repeat(group_start, np.diff(np.r_[group_start, n]))
    has_prev = position > first_of_group

    # One sortable key per row so a single searchsorted finds every window start.
    span = int(ts.max() - ts.min()) + HISTORY_WINDOW_MS + 1
    if (acct.max() + 1) * span >= 2**62:
        raise ValueError("time span too long for millisecond keys; split the batch by time")
    key = acct * span + (ts - ts.min())

    starts: dict[int, np.ndarray] = {}  # four window widths, each searched once
    exclusive_sums: dict[str, np.ndarray] = {}

    def window_start(width_ms: int) -> np.ndarray:
        if width_ms not in starts:
            starts[width_ms] = np.searchsorted(key, key - width_ms, side="left")
        return starts[width_ms]

    def window_count(width_ms: int) -> np.ndarray:
        return (position - window_start(width_ms)).astype("float64")

    def window_sum(name: str, width_ms: int) -> np.ndarray:
        exclusive = exclusive_sums[name]
        return exclusive - exclusive[window_start(width_ms)]

    result: dict[str, np.ndarray] = {}
    prev_ts = np.where(has_prev, np.roll(ts, 1), 0)
    result["hours_since_prev_event"] = np.where(has_prev, (ts - prev_ts) / MS_PER_HOUR, np.nan)
    result["events_1h"] = window_count(WINDOW_1H)
    result["events_24h"] = window_count(WINDOW_24H)
    result["events_7d"] = window_count(WINDOW_7D)

    has_amount = ~np.isnan(amount)
    amount0 = np.where(has_amount, amount, 0.0)
    amount_count = has_amount.astype("float64")
    amount_squared = amount0 * amount0
    failed = _matches(events, "payment_status", FAILED_STATUSES)[order].astype("float64")
    session = _float(events, "session_duration")[order]
    has_session = ~np.isnan(session)
    session_count = has_session.astype("float64")
    session0 = np.where(has_session, session, 0.0)
    is_login = _matches(events, "event_type", ("login",))[order].astype("float64")
    night = np.isin(pd.to_datetime(ts, unit="ms").hour.to_numpy(), NIGHT_HOURS).astype("float64")
    located = ~np.isnan(lat) & ~np.isnan(lon)
    located_count = located.astype("float64")
    lat0, lon0 = np.where(located, lat, 0.0), np.where(located, lon, 0.0)
    offsets = _offsets_from_first_location(unit_vectors(lat, lon), located, group_start)
    exclusive_sums.update(_account_prefix_sums(acct, {
        "amount_count": amount_count, "amount": amount0, "amount_squared": amount_squared, "failed": failed,
        "session_count": session_count, "session": session0, "login": is_login, "night": night,
        "located_count": located_count,
        "latitude": lat0, "longitude": lon0, "offset_x": offsets[:, 0], "offset_y": offsets[:, 1],
        "offset_z": offsets[:, 2], "offset_squared": np.einsum("ij,ij->i", offsets, offsets),
    }))

    n_amt = window_sum("amount_count", WINDOW_30D)
    s_amt = window_sum("amount", WINDOW_30D)
    ss_amt = window_sum("amount_squared", WINDOW_30D)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_amt > 0, s_amt / np.maximum(n_amt, 1), np.nan)
        var = np.where(n_amt > 1, np.maximum(ss_amt / np.maximum(n_amt, 1) - mean * mean, 0.0), np.nan)
        std = np.sqrt(var)
        result["amount"] = amount
        result["amount_mean_30d"] = mean
        result["amount_zscore_30d"] = np.where(has_amount & (std > 1e-9), (amount - mean) / std, np.nan)
        result["amount_to_mean_30d"] = np.where(has_amount & (mean > 0), amount / mean, np.nan)

    result["failed_payments_24h"] = window_sum("failed", WINDOW_24H)
    result["failed_payments_30d"] = window_sum("failed", WINDOW_30D)


    prev_lat = np.where(has_prev, np.roll(lat, 1), np.nan)
    prev_lon = np.where(has_prev, np.roll(lon, 1), np.nan)
    km = haversine_km(prev_lat, prev_lon, lat, lon)
    result["km_from_prev_event"] = km
    hours = np.maximum((ts - prev_ts) / MS_PER_HOUR, 1 / 60)  # floor of one minute: no infinite speeds
    result["travel_speed_kmh"] = np.where(np.isnan(km), np.nan, km / hours)

    result["session_duration"] = _float(events, "session_duration")[order]
    when = pd.to_datetime(ts, unit="ms")
    hour = when.hour.to_numpy().astype("float64")
    result["hour_of_day"] = hour
    result["day_of_week"] = when.dayofweek.to_numpy().astype("float64")
    result["is_night"] = np.isin(hour, NIGHT_HOURS).astype("float64")
    if "account_created_at" in events.columns and events["account_created_at"].notna().any():
        created = pd.to_datetime(events["account_created_at"], utc=True)
        created_ms = np.where(created.isna(), 0, to_epoch_ms(created.fillna(pd.Timestamp(0, tz="UTC"))))
        age = (t - created_ms) / MS_PER_DAY
        result["account_age_days"] = np.where(created.isna().to_numpy(), np.nan, age)[order]
    else:
        result["account_age_days"] = np.full(n, np.nan)

    # Shorter spending windows and the account's last failed payment.
    for label, width in (("24h", WINDOW_24H), ("7d", WINDOW_7D)):
        n_w = window_sum("amount_count", width)
        s_w = window_sum("amount", width)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_w = np.where(n_w > 0, s_w / np.maximum(n_w, 1), np.nan)
            result[f"amount_to_mean_{label}"] = np.where(has_amount & (mean_w > 0), amount / mean_w, np.nan)
            if label == "7d":
                ss_w = window_sum("amount_squared", width)
                std_w = np.sqrt(np.where(n_w > 1, np.maximum(ss_w / np.maximum(n_w, 1) - mean_w * mean_w, 0.0), np.nan))
                result["amount_zscore_7d"] = np.where(has_amount & (std_w > 1e-9), (amount - mean_w) / std_w, np.nan)
    last_failed = np.maximum.accumulate(np.where(failed > 0, position, -1))
    last_failed_before = np.r_[-1, last_failed[:-1]]
    usable = (last_failed_before >= first_of_group) & (last_failed_before >= window_start(WINDOW_30D))
    failed_ts = ts[np.maximum(last_failed_before, 0)]
    result["hours_since_failed_payment"] = np.where(usable, (ts - failed_ts) / MS_PER_HOUR, np.nan)

    # Sessions and logins against the account's normal.
    n_sess = window_sum("session_count", WINDOW_30D)
    s_sess = window_sum("session", WINDOW_30D)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_sess = np.where(n_sess > 0, s_sess / np.maximum(n_sess, 1), np.nan)
        result["session_to_mean_30d"] = np.where(has_session & (mean_sess > 0), session / mean_sess, np.nan)
    logins_24h = window_sum("login", WINDOW_24H)
    logins_30d = window_sum("login", WINDOW_30D)
    result["logins_24h"] = logins_24h
    with np.errstate(invalid="ignore", divide="ignore"):
        result["logins_24h_to_daily_mean_30d"] = np.where(logins_30d > 0, logins_24h / (logins_30d / 30.0), np.nan)

    # Where the account usually is: the mean position of its located events in 30 days.
    n_loc = window_sum("located_count", WINDOW_30D)
    with np.errstate(invalid="ignore", divide="ignore"):
        usual_lat = np.where(n_loc > 0, window_sum("latitude", WINDOW_30D) / np.maximum(n_loc, 1), np.nan)
        usual_lon = np.where(n_loc > 0, window_sum("longitude", WINDOW_30D) / np.maximum(n_loc, 1), np.nan)
    result["km_from_usual_location_30d"] = haversine_km(usual_lat, usual_lon, lat, lon)
    # Spread: mean squared distance of the window's unit vectors from their mean, which
    # does not depend on the point the offsets are taken from.
    per_location = 1 / np.maximum(n_loc, 1)
    mean_offset = np.stack([window_sum(f"offset_{axis}", WINDOW_30D) for axis in "xyz"], axis=1) * per_location[:, None]
    mean_squared = window_sum("offset_squared", WINDOW_30D) * per_location - np.einsum("ij,ij->i", mean_offset, mean_offset)
    result["location_spread_km_30d"] = np.where(n_loc >= 2, spread_km(mean_squared), np.nan)
    result["is_weekend"] = np.isin(result["day_of_week"], WEEKEND_DAYS).astype("float64")
    for aggregate in ACCOUNT_WINDOW_AGGREGATES:
        if aggregate.statistic == "amount_sum":
            result[aggregate.name] = window_sum("amount", aggregate.width_ms)
        elif aggregate.statistic == "count":
            result[aggregate.name] = window_count(aggregate.width_ms)
        else:
            events_in = window_count(aggregate.width_ms)
            with np.errstate(invalid="ignore", divide="ignore"):
                result[aggregate.name] = np.where(events_in > 0, window_sum("night", aggregate.width_ms) / np.maximum(events_in, 1), np.nan)

    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = position
    linked = {**_account_entity_features(t, rank, codes), **_entity_fraud_rates(events, t, codes), **shared_later()}
    # Column-major, so each feature is one contiguous column and the DataFrame made from
    # the transpose's view shares the memory.
    out = np.empty((len(names), n))
    for j, name in enumerate(names):
        if name in linked:
            out[j] = linked[name]
        else:
            np.take(result[name], inverse, out=out[j])
    return out.T


def _account_prefix_sums(acct: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per column, the sum over the account's earlier rows (rows sorted by account, time).

    Sums restart at each account so rounding never carries across accounts; one grouped
    pass covers every column."""
    inclusive = pd.DataFrame(columns, copy=False).groupby(acct, sort=False).cumsum().to_numpy()
    return {name: inclusive[:, i] - values for i, (name, values) in enumerate(columns.items())}


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points given in degrees as (n, 3) unit vectors from the Earth's centre; NaN rows where missing."""
    phi, lmb = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)], axis=1)


def spread_km(mean_squared_chord: np.ndarray) -> np.ndarray:
    """Root mean square distance in km of points from their centre, from their mean squared
    chord distance (unit sphere) to their mean unit vector; under MIN_LOCATION_SPREAD_KM
    counts as 0. For spreads of a country or less the chord is the distance on the ground."""
    km = EARTH_RADIUS_KM * np.sqrt(np.maximum(mean_squared_chord, 0.0))
    return np.where(km < MIN_LOCATION_SPREAD_KM, 0.0, km)


def _offsets_from_first_location(vectors: np.ndarray, located: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Each located row's unit vector minus that of its account's first located row (rows
    sorted by account); zero where not located. Window sums of offsets from a point near
    the account stay small, so their differences keep the precision that sums of the unit
    vectors themselves (all near length 1) would lose to cancellation."""
    n = len(located)
    first_located = np.minimum.reduceat(np.where(located, np.arange(n), n), group_start)
    first_of_row = np.repeat(first_located, np.diff(np.r_[group_start, n]))
    reference = np.where((first_of_row < n)[:, None], vectors[np.minimum(first_of_row, n - 1)], 0.0)
    return np.where(located[:, None], vectors - reference, 0.0)


def _column_codes(events: pd.DataFrame, column: str) -> np.ndarray:
    """Integer codes for a text column's values; -1 for empty or missing ones (or no column)."""
    if column not in events.columns:
        return np.full(len(events), -1, dtype=np.int64)
    values = events[column]
    codes = pd.factorize(values)[0].astype(np.int64)  # missing values are already -1
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        codes[values.astype("string").eq("").fillna(False).to_numpy(dtype=bool)] = -1
    return codes


def _matches(events: pd.DataFrame, column: str, wanted: tuple[str, ...]) -> np.ndarray:
    """Boolean per row: the column's text is one of `wanted` (False when there is no column)."""
    if column not in events.columns:
        return np.zeros(len(events), dtype=bool)
    return events[column].astype("string").isin(wanted).fillna(False).to_numpy(dtype=bool)


def _distinct_in_window(
    group: np.ndarray, ts: np.ndarray, seq: np.ndarray, item: np.ndarray, width_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct items among a row's earlier rows of the same group within `width_ms`.

    For each row (input order) returns the number of distinct non-missing items (codes
    >= 0) among rows of its group that precede it in (timestamp, seq) order with
    timestamp >= t - width, and whether its own item is among them. Rows whose group
    is missing (-1) get NaN and False.

    Vectorised: distinct = rows in the window - repeats in the window, where a repeat is a
    row whose previous occurrence of the same item is also in the window. A row j repeats
    for every later row i whose window starts at or before j's previous occurrence; window
    starts never decrease in sorted order, so those i form one interval, counted with a
    difference array.
    """
    n = len(group)
    distinct = np.full(n, np.nan)
    seen = np.zeros(n, dtype=bool)
    valid = group >= 0
    if not valid.any():
        return distinct, seen
    idx = np.flatnonzero(valid)
    # `seq` is a dense rank of (timestamp, seq) here, so one int64 key sorts by group then time.
    g, t, s, x = group[idx], ts[idx], seq[idx], item[idx]
    m = len(idx)
    order = np.argsort(g * n + s, kind="stable")
    g, t, s, x = g[order], t[order], s[order], x[order]
    span = int(t.max() - t.min()) + width_ms + 1
    key = g * span + (t - t.min())
    start = np.searchsorted(key, key - width_ms, side="left")
    present = x >= 0
    prefix = np.r_[0, np.cumsum(present)]
    in_window = prefix[np.arange(m)] - prefix[start]

    pair = pd.factorize(g * (int(x.max()) + 2) + (x + 1))[0].astype(np.int64)
    by_item = np.argsort(pair * n + s, kind="stable")
    prev = np.full(m, -1, dtype=np.int64)
    same = (g[by_item][1:] == g[by_item][:-1]) & (x[by_item][1:] == x[by_item][:-1]) & present[by_item][1:]
    prev[by_item[1:][same]] = by_item[:-1][same]
    repeat = np.flatnonzero(prev >= 0)
    until = np.searchsorted(start, prev[repeat], side="right")
    lo, hi = repeat + 1, np.maximum(until, repeat + 1)
    diff = np.bincount(lo, minlength=m + 1) - np.bincount(hi, minlength=m + 1)
    repeats_in_window = np.cumsum(diff)[:m]

    back = idx[order]
    distinct[back] = (in_window - repeats_in_window).astype("float64")
    seen[back] = present & (prev >= start) & (prev >= 0)
    return distinct, seen


def _known_label_counts(
    entity: np.ndarray, ts: np.ndarray, label: np.ndarray, known_ms: np.ndarray, width_ms: int,
    learned_within_ms: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: labels of the entity's events in [t - width, t] known by t, and how many were fraud.

    With `learned_within_ms`, only labels that became known in [t - learned_within, t].
    An event j's label is usable at time τ when known_j <= τ <= t_j + width (and τ <=
    known_j + learned_within), an interval per labeled event; the count at τ is (#starts <= τ) - (#ends < τ) within the entity,
    two searchsorted calls on sorted keys. Rows without the entity get NaN.
    """
    n = len(entity)
    known_count = np.full(n, np.nan)
    fraud_count = np.full(n, np.nan)
    has_entity = entity >= 0
    if not has_entity.any():
        return known_count, fraud_count
    labeled = has_entity & ~np.isnan(label)
    end = ts + width_ms
    if learned_within_ms is not None:
        end = np.minimum(end, known_ms + learned_within_ms)
    usable = labeled & (known_ms <= end)
    base = int(ts.min())
    span = int(end.max() - base) + 1

    # Queries in sorted order: a binary search per query then walks memory forwards.
    rows = np.flatnonzero(has_entity)
    q = entity[rows] * span + (ts[rows] - base)
    by_key = np.argsort(q)
    q, rows = q[by_key], rows[by_key]

    def count_at(mask: np.ndarray) -> np.ndarray:
        starts = np.sort(entity[mask] * span + (known_ms[mask] - base))
        ends = np.sort(entity[mask] * span + (end[mask] - base))
        return (np.searchsorted(starts, q, side="right") - np.searchsorted(ends, q, side="left")).astype("float64")

    known_count[rows] = count_at(usable)
    fraud_count[rows] = count_at(usable & (label > 0.5))
    return known_count, fraud_count


def label_known_ms(events: pd.DataFrame, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (1/0/NaN) and when each became known, in ms; a missing time means the default delay."""
    label = _float(events, "is_fraud")
    recorded = np.full(len(t), np.nan)
    if "label_known_at" in events.columns:
        known = pd.to_datetime(events["label_known_at"], utc=True)
        missing = known.isna().to_numpy()
        recorded = np.where(missing, np.nan, to_epoch_ms(known.fillna(pd.Timestamp(0, tz="UTC"))))
    return label, _known_ms(t, recorded)


def _known_ms(t: np.ndarray, recorded_ms: np.ndarray) -> np.ndarray:
    """When each label became usable: its recorded time (NaN: not recorded, so the event
    time plus the default delay), never before the event time plus the minimum delay."""
    known = np.where(np.isnan(recorded_ms), t + DEFAULT_LABEL_DELAY_MS, np.nan_to_num(recorded_ms)).astype(np.int64)
    return np.maximum(known, t + MIN_LABEL_DELAY_MS)


def _rate(known: np.ndarray, fraud: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, fraud / np.maximum(known, 1), np.nan)


def _time_rank(t: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Each row's place in (timestamp, seq) order: one int64 that breaks ties in time."""
    rank = np.empty(len(t), dtype=np.int64)
    rank[np.lexsort((seq, t))] = np.arange(len(t))
    return rank


def _account_entity_features(t: np.ndarray, rank: np.ndarray, codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Devices, IPs and countries per account, and whether the device / IP is new for it; in input order."""
    account, device, ip, country = codes["account_id"], codes["device_id"], codes["ip_address"], codes["country"]
    out: dict[str, np.ndarray] = {}
    merchant = codes["merchant_id"]
    for name, item in (("distinct_devices_30d", device), ("distinct_ips_30d", ip), ("distinct_countries_30d", country),
                       ("distinct_merchants_30d", merchant)):
        before, seen = _distinct_in_window(account, t, rank, item, WINDOW_30D)
        # This event's own device / IP / country counts too, when it is a new one.
        value = before + ((item >= 0) & ~seen)
        out[name] = value if (item >= 0).any() else np.full(len(t), np.nan)
        if name == "distinct_merchants_30d":  # only for events with a counter-party
            out[name] = np.where(item >= 0, out[name], np.nan)
        if name != "distinct_countries_30d":
            # "new for the account": not used by it in the 30 days before; NaN when absent.
            out[name.replace("distinct_", "").replace("s_30d", "_is_new")] = np.where(item >= 0, (~seen).astype("float64"), np.nan)
    return out


def _shared_entity_features(
    t: np.ndarray, rank: np.ndarray, codes: dict[str, np.ndarray], *, rings: bool = True
) -> dict[str, np.ndarray]:
    """Other accounts per device / IP and rings (unless `rings` is false: they cost a graph
    per day); in input order."""
    account, device, ip = codes["account_id"], codes["device_id"], codes["ip_address"]
    out: dict[str, np.ndarray] = {}
    for kind, entity in (("device", device), ("ip", ip)):
        before, seen = _distinct_in_window(entity, t, rank, account, ENTITY_WINDOW_MS)
        out[f"accounts_on_{kind}_30d"] = before - seen  # the account itself is not "another" account
    linked = ((device >= 0) | (ip >= 0)) & (account >= 0)
    out["ring_size_30d"] = np.full(len(t), np.nan)
    if rings and linked.any():
        out["ring_size_30d"][linked] = _ring_sizes(account, device, ip, t)[linked]
    return out


def _entity_fraud_rates(events: pd.DataFrame, t: np.ndarray, codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Device, IP and merchant fraud rates from the labels known by each event, in input order."""
    label, known_ms = label_known_ms(events, t)
    out = {}
    for kind, column in (("device", "device_id"), ("ip", "ip_address"), ("merchant", "merchant_id")):
        out[f"{kind}_fraud_rate_30d"] = _rate(*_known_label_counts(codes[column], t, label, known_ms, ENTITY_WINDOW_MS))
        out[f"{kind}_fraud_rate_learned_7d"] = _rate(
            *_known_label_counts(codes[column], t, label, known_ms, ENTITY_WINDOW_MS, LEARNED_WINDOW_MS))
    return out


def _ring_sizes(account: np.ndarray, device: np.ndarray, ip: np.ndarray, t: np.ndarray) -> np.ndarray:
    """`ring_size_30d` for every event (codes in input order, -1 = missing; t in ms).

    One graph per UTC day D of the events: accounts, devices and IPs as nodes, an edge
    for each account–device and account–IP pair of the events timed in [D - 30 days, D),
    except those of devices and IPs with more accounts than RING_MAX_ACCOUNTS allows.
    Every node of every code is in each day's graph (unlinked ones alone), so an account
    with no links is its own group of one and a device or IP with none adds nobody."""
    n_accounts = int(account.max()) + 1
    n_devices = int(device.max()) + 1
    n_nodes = n_accounts + n_devices + int(ip.max()) + 1
    device_node = np.where(device >= 0, n_accounts + device, -1)
    ip_node = np.where(ip >= 0, n_accounts + n_devices + ip, -1)
    # Per node, as a column of the graph below (only devices and IPs are ever columns).
    max_accounts = np.where(np.arange(n_nodes) < n_accounts + n_devices, RING_MAX_ACCOUNTS[NODE_DEVICE], RING_MAX_ACCOUNTS[NODE_IP])
    day = t // MS_PER_DAY
    links_day, links_account, links_node = _daily_links(day, account, device_node, ip_node, n_nodes)
    sizes = np.empty(len(t))
    event_days, first = np.unique(day, return_inverse=True)
    by_day = np.argsort(first, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(first, minlength=len(event_days)))]
    window_lo = np.searchsorted(links_day, event_days - ENTITY_WINDOW_MS // MS_PER_DAY, side="left")
    window_hi = np.searchsorted(links_day, event_days, side="left")
    for k in range(len(event_days)):
        rows = by_day[bounds[k]:bounds[k + 1]]
        links = slice(window_lo[k], window_hi[k])
        graph = sparse.coo_matrix(
            (np.ones(links.stop - links.start, dtype=np.int32), (links_account[links], links_node[links])),
            shape=(n_nodes, n_nodes),
        ).tocsr()  # one entry per distinct (account, node): duplicates are summed
        accounts_of_node = np.bincount(graph.indices, minlength=n_nodes)
        graph.data[accounts_of_node[graph.indices] > max_accounts[graph.indices]] = 0
        graph.eliminate_zeros()
        _, component = connected_components(graph, directed=False)
        accounts_in = np.bincount(component[:n_accounts], minlength=int(component.max()) + 1)
        sizes[rows] = _union_size(component, accounts_in, account[rows], device_node[rows], ip_node[rows])
    return sizes


def _daily_links(
    day: np.ndarray, account: np.ndarray, device_node: np.ndarray, ip_node: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (day, account, device or IP node) links of the events, sorted by day."""
    first_day = int(day.min())
    if (int(day.max()) - first_day + 1) * n_nodes * n_nodes >= 2**62:
        raise ValueError("too many entities for one batch; split the batch by time")
    keys = []
    for node in (device_node, ip_node):
        linked = (node >= 0) & (account >= 0)
        keys.append(((day[linked] - first_day) * n_nodes + account[linked]) * n_nodes + node[linked])
    key = np.sort(np.concatenate(keys))
    key = key[np.r_[True, key[1:] != key[:-1]]]  # distinct; cheaper than np.unique's hashing
    return key // (n_nodes * n_nodes) + first_day, (key // n_nodes) % n_nodes, key % n_nodes


def _union_size(
    component: np.ndarray, accounts_in: np.ndarray, account: np.ndarray, device_node: np.ndarray, ip_node: np.ndarray
) -> np.ndarray:
    """Accounts in the union of the groups of each event's account, device and IP node
    (-1 = none): the groups are disjoint, so each distinct one adds its accounts."""
    group_a = component[account]
    group_d = np.where(device_node >= 0, component[np.maximum(device_node, 0)], -1)
    group_i = np.where(ip_node >= 0, component[np.maximum(ip_node, 0)], -1)
    size = accounts_in[group_a].astype("float64")
    size += np.where((group_d >= 0) & (group_d != group_a), accounts_in[np.maximum(group_d, 0)], 0)
    size += np.where((group_i >= 0) & (group_i != group_a) & (group_i != group_d), accounts_in[np.maximum(group_i, 0)], 0)
    return size


def fraud_rate_at(
    labeled: pd.DataFrame, entity: str, values: Sequence[Any], times_ms: np.ndarray, learned_within_ms: int | None = None
) -> np.ndarray:
    """`<entity>_fraud_rate_30d` of events with these entity `values` at `times_ms`, from
    the entity's labeled events `labeled` (columns `entity`, timestamp and label_known_at in
    epoch ms, is_fraud): the batch definition (`_known_label_counts`), for when only the
    labeled rows are at hand. NaN where the event has no such entity or nothing is known."""
    n = len(values)
    names = pd.DataFrame({entity: np.concatenate([labeled[entity].to_numpy(dtype=object), np.array(values, dtype=object)])})
    t = np.concatenate([labeled["timestamp"].to_numpy(dtype=np.int64), np.asarray(times_ms, dtype=np.int64)])
    label = np.concatenate([labeled["is_fraud"].to_numpy(dtype="float64"), np.full(n, np.nan)])
    recorded = np.concatenate([labeled["label_known_at"].to_numpy(dtype="float64"), np.full(n, np.nan)])
    counts = _known_label_counts(_column_codes(names, entity), t, label, _known_ms(t, recorded), ENTITY_WINDOW_MS,
                                 learned_within_ms)
    return _rate(*counts)[len(labeled):]


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km between arrays of points given in degrees; NaN if any is missing."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# --------------------------------------------------------------------------- online path


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def epoch_ms(value: Any) -> int:
    """One timestamp (datetime with zone, pandas Timestamp, or already int milliseconds, as
    the live path reads stored rows) to int milliseconds since the epoch."""
    if type(value) is int:
        return value
    if type(value) is datetime and value.tzinfo is not None:
        return (value - _EPOCH) // _ONE_MS  # exact integer arithmetic, no float rounding
    if isinstance(value, pd.Timestamp) and value.tzinfo is not None:
        return value.value // 1_000_000
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


@dataclass(frozen=True)
class EntityRows:
    """Earlier events that share this event's device, IP address or merchant.

    Each list holds the stored events (mappings with account_id, timestamp, device_id,
    ip_address, is_fraud, label_known_at) with that entity and timestamp in
    [t - ENTITY_WINDOW, t], stored before this event. `merchant` may hold only the
    labeled ones: unlabeled merchant events do not change any feature. Instead of merchant
    rows, `merchant_labels` may give what the merchant features count from them, (labels
    known by t, of which fraud, those of them learned in the last LEARNED_WINDOW, of which
    fraud), as the database counts it for live single events.
    """

    device: Sequence[Mapping[str, Any]] = ()
    ip: Sequence[Mapping[str, Any]] = ()
    merchant: Sequence[Mapping[str, Any]] = ()
    merchant_labels: tuple[int, int, int, int] | None = None
    # The link groups of the event's UTC day (`link_components`), at least for its account,
    # device and IP; without them the ring feature is NaN.
    link_groups: Mapping[str, tuple[int, int]] | None = None


def online_features(
    event: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    previous_event: Mapping[str, Any] | None = None,
    entities: EntityRows | None = None,
) -> dict[str, float]:
    """Features for one event from its account's recent history.

    `history` holds the account's stored events with timestamp in [t - 30 days, t], in
    ingestion order, each a mapping with the contract fields. `previous_event` is the
    account's latest earlier event (it may be older than 30 days); when omitted the last
    history row is used. `entities` holds the recent events of its device, IP and
    merchant; without it the device, IP, merchant and ring features are NaN. Cost grows
    with the recent activity of the account and its entities, never with the size of
    the whole table.
    """
    t = epoch_ms(event["timestamp"])
    hist_t = [epoch_ms(row["timestamp"]) for row in history]
    prev = previous_event if previous_event is not None else (history[-1] if history else None)
    values: dict[str, float] = {}

    amount = _as_float(event.get("amount"))
    values["amount"] = amount
    if prev is not None:
        prev_t = epoch_ms(prev["timestamp"])
        values["hours_since_prev_event"] = (t - prev_t) / MS_PER_HOUR
    else:
        prev_t = None
        values["hours_since_prev_event"] = math.nan

    values["events_1h"] = float(sum(1 for x in hist_t if x >= t - WINDOW_1H))
    values["events_24h"] = float(sum(1 for x in hist_t if x >= t - WINDOW_24H))
    values["events_7d"] = float(sum(1 for x in hist_t if x >= t - WINDOW_7D))

    amounts = [a for a in (_as_float(row.get("amount")) for row in history) if not math.isnan(a)]
    n_amt = float(len(amounts))
    s_amt = math.fsum(amounts)
    ss_amt = math.fsum(a * a for a in amounts)
    mean = s_amt / n_amt if n_amt > 0 else math.nan
    std = math.sqrt(max(ss_amt / n_amt - mean * mean, 0.0)) if n_amt > 1 else math.nan
    values["amount_mean_30d"] = mean
    has_amount = not math.isnan(amount)
    values["amount_zscore_30d"] = (amount - mean) / std if has_amount and not math.isnan(std) and std > 1e-9 else math.nan
    values["amount_to_mean_30d"] = amount / mean if has_amount and not math.isnan(mean) and mean > 0 else math.nan

    failed = [str(row.get("payment_status") or "") in FAILED_STATUSES for row in history]
    values["failed_payments_24h"] = float(sum(f for f, x in zip(failed, hist_t) if x >= t - WINDOW_24H))
    values["failed_payments_30d"] = float(sum(failed))

    values["device_is_new"] = _online_is_new(event, history, "device_id")
    values["ip_is_new"] = _online_is_new(event, history, "ip_address")

    km = math.nan
    if prev is not None:
        km = float(
            haversine_km(
                np.float64(_as_float(prev.get("latitude"))),
                np.float64(_as_float(prev.get("longitude"))),
                np.float64(_as_float(event.get("latitude"))),
                np.float64(_as_float(event.get("longitude"))),
            )
        )
    values["km_from_prev_event"] = km
    if math.isnan(km) or prev_t is None:
        values["travel_speed_kmh"] = math.nan
    else:
        values["travel_speed_kmh"] = km / max((t - prev_t) / MS_PER_HOUR, 1 / 60)

    values["session_duration"] = _as_float(event.get("session_duration"))
    when = pd.Timestamp(t, unit="ms")
    values["hour_of_day"] = float(when.hour)
    values["day_of_week"] = float(when.dayofweek)
    values["is_night"] = 1.0 if when.hour in NIGHT_HOURS else 0.0
    created = event.get("account_created_at")
    values["account_age_days"] = (t - epoch_ms(created)) / MS_PER_DAY if created not in (None, "") else math.nan

    # Shorter spending windows and the last failed payment.
    for label, width in (("24h", WINDOW_24H), ("7d", WINDOW_7D)):
        recent = [a for a, x in ((_as_float(row.get("amount")), x) for row, x in zip(history, hist_t)) if x >= t - width and not math.isnan(a)]
        mean_w = math.fsum(recent) / len(recent) if recent else math.nan
        values[f"amount_to_mean_{label}"] = amount / mean_w if has_amount and recent and mean_w > 0 else math.nan
        if label == "7d":
            if len(recent) > 1:
                std_w = math.sqrt(max(math.fsum(a * a for a in recent) / len(recent) - mean_w * mean_w, 0.0))
            else:
                std_w = math.nan
            values["amount_zscore_7d"] = (amount - mean_w) / std_w if has_amount and not math.isnan(std_w) and std_w > 1e-9 else math.nan
    failed_times = [x for f, x in zip(failed, hist_t) if f]
    values["hours_since_failed_payment"] = (t - failed_times[-1]) / MS_PER_HOUR if failed_times else math.nan

    # Sessions and logins against the account's normal.
    sessions = [v for v in (_as_float(row.get("session_duration")) for row in history) if not math.isnan(v)]
    session = values["session_duration"]
    mean_sess = math.fsum(sessions) / len(sessions) if sessions else math.nan
    values["session_to_mean_30d"] = session / mean_sess if not math.isnan(session) and sessions and mean_sess > 0 else math.nan
    logins = [x for row, x in zip(history, hist_t) if row.get("event_type") == "login"]
    values["logins_24h"] = float(sum(1 for x in logins if x >= t - WINDOW_24H))
    values["logins_24h_to_daily_mean_30d"] = values["logins_24h"] / (len(logins) / 30.0) if logins else math.nan

    located = [
        (lat, lon)
        for lat, lon in ((_as_float(row.get("latitude")), _as_float(row.get("longitude"))) for row in history)
        if not math.isnan(lat) and not math.isnan(lon)
    ]
    if located:
        usual_lat = math.fsum(p[0] for p in located) / len(located)
        usual_lon = math.fsum(p[1] for p in located) / len(located)
    else:
        usual_lat = usual_lon = math.nan
    values["km_from_usual_location_30d"] = float(
        haversine_km(
            np.float64(usual_lat), np.float64(usual_lon),
            np.float64(_as_float(event.get("latitude"))), np.float64(_as_float(event.get("longitude"))),
        )
    )
    values["location_spread_km_30d"] = _online_location_spread(located)
    values["is_weekend"] = 1.0 if when.dayofweek in WEEKEND_DAYS else 0.0
    for aggregate in ACCOUNT_WINDOW_AGGREGATES:
        since = t - aggregate.width_ms
        if aggregate.statistic == "amount_sum":
            spent = [a for a in (_as_float(row.get("amount")) for row, x in zip(history, hist_t) if x >= since) if not math.isnan(a)]
            values[aggregate.name] = math.fsum(spent)
        else:
            hours = [pd.Timestamp(x, unit="ms").hour for x in hist_t if x >= since]
            if aggregate.statistic == "count":
                values[aggregate.name] = float(len(hours))
            else:
                values[aggregate.name] = sum(h in NIGHT_HOURS for h in hours) / len(hours) if hours else math.nan
    values["merchant_is_new"] = _online_is_new(event, history, "merchant_id")
    for name, field in (("distinct_devices_30d", "device_id"), ("distinct_ips_30d", "ip_address"), ("distinct_countries_30d", "country"),
                        ("distinct_merchants_30d", "merchant_id")):
        seen = {_text_of(row.get(field)) for row in history} | {_text_of(event.get(field))}
        values[name] = float(len(seen - {""}))
    if not _text_of(event.get("merchant_id")):
        values["distinct_merchants_30d"] = math.nan  # only for events with a counter-party
    values.update(_online_entity_features(event, t, entities))
    return {name: values[name] for name in FEATURE_NAMES}


def _online_location_spread(located: Sequence[tuple[float, float]]) -> float:
    """`location_spread_km_30d` from the window's located (lat, lon): two passes, the mean
    unit vector and then the mean squared distance from it, with exact sums."""
    if len(located) < 2:
        return math.nan
    vectors = unit_vectors(np.array([p[0] for p in located]), np.array([p[1] for p in located])).tolist()
    mean = [math.fsum(v[axis] for v in vectors) / len(vectors) for axis in range(3)]
    squared = math.fsum(math.fsum((v[axis] - mean[axis]) ** 2 for axis in range(3)) for v in vectors)
    return float(spread_km(np.float64(squared / len(vectors))))


def _online_entity_features(event: Mapping[str, Any], t: int, entities: EntityRows | None) -> dict[str, float]:
    names = ("accounts_on_device_30d", "accounts_on_ip_30d", "ring_size_30d",
             "device_fraud_rate_30d", "ip_fraud_rate_30d", "merchant_fraud_rate_30d",
             "device_fraud_rate_learned_7d", "ip_fraud_rate_learned_7d", "merchant_fraud_rate_learned_7d")
    if entities is None:
        return dict.fromkeys(names, math.nan)
    account = _text_of(event.get("account_id"))
    device, ip = _text_of(event.get("device_id")), _text_of(event.get("ip_address"))
    values: dict[str, float] = {}
    for kind, value, rows in (("device", device, entities.device), ("ip", ip, entities.ip)):
        others = {_text_of(r.get("account_id")) for r in rows} - {account}
        values[f"accounts_on_{kind}_30d"] = float(len(others)) if value else math.nan
    values["ring_size_30d"] = ring_size(event, entities.link_groups)

    for kind, value, rows in (("device", device, entities.device), ("ip", ip, entities.ip),
                              ("merchant", _text_of(event.get("merchant_id")), entities.merchant)):
        known = fraud = known_lately = fraud_lately = 0
        if kind == "merchant" and entities.merchant_labels is not None:
            known, fraud, known_lately, fraud_lately = entities.merchant_labels
            rows = ()
        for row in rows:
            label = row.get("is_fraud")
            if label is None or (isinstance(label, float) and math.isnan(label)):
                continue
            row_t = epoch_ms(row["timestamp"])
            learned = row_known_ms(row, row_t)
            if row_t < t - ENTITY_WINDOW_MS or learned > t:
                continue
            known += 1
            fraud += bool(label)
            if learned >= t - LEARNED_WINDOW_MS:
                known_lately += 1
                fraud_lately += bool(label)
        values[f"{kind}_fraud_rate_30d"] = fraud / known if value and known else math.nan
        values[f"{kind}_fraud_rate_learned_7d"] = fraud_lately / known_lately if value and known_lately else math.nan
    return values


def link_day(t_ms: int) -> int:
    """The UTC day (days since the epoch) whose link groups an event at `t_ms` reads."""
    return t_ms // MS_PER_DAY


def link_window_ms(day: int) -> tuple[int, int]:
    """[start, end) in epoch ms of the events whose links make up the groups of `day`:
    the 30 days before it, so nothing of the day itself, the event's own links included."""
    return (day * MS_PER_DAY - ENTITY_WINDOW_MS, day * MS_PER_DAY)


def link_node(kind: str, value: str) -> str:
    """A node of the link graph: its kind (NODE_ACCOUNT, NODE_DEVICE or NODE_IP) and value."""
    return f"{kind}:{value}"


def link_components(accounts: Sequence[str], devices: Sequence[str], ips: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The connected groups of one window's links: per node (`link_node`) of the graph in
    which each account is joined to each device and IP it used, (group number, accounts
    in the group). Inputs are aligned, one item per event or distinct combination; an
    empty string is a missing device or IP. Devices and IPs with more accounts than
    RING_MAX_ACCOUNTS allows join nobody and are left out."""
    if len(accounts) == 0:
        return {}
    frame = pd.DataFrame({NODE_ACCOUNT: accounts, NODE_DEVICE: devices, NODE_IP: ips}, dtype=object)
    nodes: list[str] = []
    edges: list[np.ndarray] = []
    account_codes, account_values = pd.factorize(frame[NODE_ACCOUNT])
    nodes.extend(link_node(NODE_ACCOUNT, str(v)) for v in account_values)
    for kind in (NODE_DEVICE, NODE_IP):
        linked = frame[kind].fillna("").astype(str).ne("").to_numpy()
        codes, values = pd.factorize(frame[kind][linked])
        used_by = np.unique(codes * len(account_values) + account_codes[linked])  # distinct (entity, account)
        accounts_of = np.bincount(used_by // len(account_values), minlength=len(values))
        kept = accounts_of[codes] <= RING_MAX_ACCOUNTS[kind]
        edges.append(np.stack([account_codes[linked][kept], codes[kept] + len(nodes)]))
        nodes.extend(link_node(kind, str(v)) for v in values)
    pairs = np.concatenate(edges, axis=1)
    graph = sparse.coo_matrix((np.ones(pairs.shape[1], dtype=np.int32), (pairs[0], pairs[1])), shape=(len(nodes),) * 2)
    _, component = connected_components(graph, directed=False)
    accounts_in = np.bincount(component[:len(account_values)], minlength=len(nodes))
    # Only linked nodes: an account alone (no device or IP, or only shared ones) is no group.
    linked_nodes = np.zeros(len(nodes), dtype=bool)
    linked_nodes[pairs.ravel()] = True
    return {node: (int(component[k]), int(accounts_in[component[k]])) for k, node in enumerate(nodes) if linked_nodes[k]}


def ring_size(event: Mapping[str, Any], groups: Mapping[str, tuple[int, int]] | None) -> float:
    """`ring_size_30d`: the accounts of the groups of the event's account, device and IP
    together, from the link groups of its day (`link_components`) (None: unknown). An account in none is
    counted once itself; a device or IP in none adds nobody. NaN without device and IP."""
    account, device, ip = (_text_of(event.get(field)) for field in ("account_id", "device_id", "ip_address"))
    if groups is None or not account or not (device or ip):
        return math.nan
    seen: set[int] = set()
    size = 0
    for kind, value in ((NODE_ACCOUNT, account), (NODE_DEVICE, device), (NODE_IP, ip)):
        found = groups.get(link_node(kind, value)) if value else None
        if found is None:
            size += kind == NODE_ACCOUNT
        elif found[0] not in seen:
            seen.add(found[0])
            size += found[1]
    return float(size)


def row_known_ms(row: Mapping[str, Any], row_t: int) -> int:
    """When a stored event's label became known, in ms (default delay when not recorded)."""
    known = row.get("label_known_at")
    if known is None or known is pd.NaT or (isinstance(known, float) and math.isnan(known)):
        known_ms = row_t + DEFAULT_LABEL_DELAY_MS
    else:
        known_ms = epoch_ms(known)
    return max(known_ms, row_t + MIN_LABEL_DELAY_MS)


def _text_of(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _online_is_new(event: Mapping[str, Any], history: Iterable[Mapping[str, Any]], field: str) -> float:
    value = str(event.get(field) or "")
    if not value:
        return math.nan
    return 0.0 if any(str(row.get(field) or "") == value for row in history) else 1.0


def _as_float(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
