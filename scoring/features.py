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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

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
FAILED_STATUSES = ("failed", "declined")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    inputs: tuple[str, ...]
    describe: str  # plain-words template, filled with the value by `describe_feature`


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
)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
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


def _text(events: pd.DataFrame, column: str) -> np.ndarray:
    if column not in events.columns:
        return np.full(len(events), "", dtype=object)
    return events[column].fillna("").astype(str).to_numpy(dtype=object)


def _float(events: pd.DataFrame, column: str) -> np.ndarray:
    if column not in events.columns:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def batch_features(events: pd.DataFrame) -> pd.DataFrame:
    """Every feature for every event, point-in-time.

    Input: one row per event with the data-contract columns (at least account_id and
    timestamp) and optionally `seq`, the ingestion order used to break ties in time
    (defaults to row order). Output: a float64 DataFrame with one column per name in
    FEATURE_NAMES, aligned to the input's index.
    """
    n = len(events)
    out = pd.DataFrame(index=events.index, columns=list(FEATURE_NAMES), dtype="float64")
    if n == 0:
        return out
    t = to_epoch_ms(events["timestamp"])
    seq = events["seq"].to_numpy() if "seq" in events.columns else np.arange(n)
    account_codes = pd.factorize(events["account_id"].astype(str))[0].astype(np.int64)
    order = np.lexsort((seq, t, account_codes))
    acct = account_codes[order]
    ts = t[order]
    amount = _float(events, "amount")[order]
    status = _text(events, "payment_status")[order]
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

    def window_start(width_ms: int) -> np.ndarray:
        return np.searchsorted(key, key - width_ms, side="left")

    def window_count(width_ms: int) -> np.ndarray:
        return (position - window_start(width_ms)).astype("float64")

    def window_sum(values: np.ndarray, width_ms: int) -> np.ndarray:
        # Prefix sums restart at each account so rounding never carries across accounts.
        inclusive = pd.Series(values).groupby(acct).cumsum().to_numpy()
        exclusive = inclusive - values
        return exclusive[position] - exclusive[window_start(width_ms)]

    result: dict[str, np.ndarray] = {}
    prev_ts = np.where(has_prev, np.roll(ts, 1), 0)
    result["hours_since_prev_event"] = np.where(has_prev, (ts - prev_ts) / MS_PER_HOUR, np.nan)
    result["events_1h"] = window_count(WINDOW_1H)
    result["events_24h"] = window_count(WINDOW_24H)
    result["events_7d"] = window_count(WINDOW_7D)

    has_amount = ~np.isnan(amount)
    amount0 = np.where(has_amount, amount, 0.0)
    n_amt = window_sum(has_amount.astype("float64"), WINDOW_30D)
    s_amt = window_sum(amount0, WINDOW_30D)
    ss_amt = window_sum(amount0 * amount0, WINDOW_30D)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_amt > 0, s_amt / np.maximum(n_amt, 1), np.nan)
        var = np.where(n_amt > 1, np.maximum(ss_amt / np.maximum(n_amt, 1) - mean * mean, 0.0), np.nan)
        std = np.sqrt(var)
        result["amount"] = amount
        result["amount_mean_30d"] = mean
        result["amount_zscore_30d"] = np.where(has_amount & (std > 1e-9), (amount - mean) / std, np.nan)
        result["amount_to_mean_30d"] = np.where(has_amount & (mean > 0), amount / mean, np.nan)

    failed = np.isin(status, FAILED_STATUSES).astype("float64")
    result["failed_payments_24h"] = window_sum(failed, WINDOW_24H)
    result["failed_payments_30d"] = window_sum(failed, WINDOW_30D)

    result["device_is_new"] = _is_new_in_window(acct, ts, seq[order], _text(events, "device_id")[order])
    result["ip_is_new"] = _is_new_in_window(acct, ts, seq[order], _text(events, "ip_address")[order])

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

    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = position
    for name in FEATURE_NAMES:
        out[name] = np.asarray(result[name], dtype="float64")[inverse]
    return out


def _is_new_in_window(acct: np.ndarray, ts: np.ndarray, seq: np.ndarray, entity: np.ndarray) -> np.ndarray:
    """1.0 when the entity was not used by the account in the 30 days before; NaN when absent."""
    n = len(acct)
    result = np.full(n, np.nan)
    present = entity != ""
    if not present.any():
        return result
    entity_codes = pd.factorize(entity)[0].astype(np.int64)
    order = np.lexsort((seq, ts, entity_codes, acct))
    a, e, t = acct[order], entity_codes[order], ts[order]
    same_as_prev = np.r_[False, (a[1:] == a[:-1]) & (e[1:] == e[:-1])]
    gap = np.r_[np.iinfo(np.int64).max, np.diff(t)]
    seen_recently = same_as_prev & (gap <= WINDOW_30D)
    values = np.where(seen_recently, 0.0, 1.0)
    values[~present[order]] = np.nan
    result[order] = values
    return result


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
    """One timestamp (datetime with zone, or pandas Timestamp) to int milliseconds since the epoch."""
    if type(value) is datetime and value.tzinfo is not None:  # the live path: plain integer arithmetic
        return (value - _EPOCH) // _ONE_MS
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


def online_features(
    event: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    previous_event: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Features for one event from its account's recent history.

    `history` holds the account's stored events with timestamp in [t - 30 days, t], in
    ingestion order, each a mapping with the contract fields. `previous_event` is the
    account's latest earlier event (it may be older than 30 days); when omitted the last
    history row is used. Cost grows with the account's recent activity, never with the
    size of the whole table.
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
    return {name: values[name] for name in FEATURE_NAMES}


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
