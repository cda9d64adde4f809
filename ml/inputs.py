"""The event's own fields as model inputs: categories, attributes and dates. No Django here.

Engineered features (`ml.features`) describe an event against history; inputs are
what the event itself says: its category, event type, country, and every attribute the
import mapping kept (numbers as they are, text as categories, dates as days before the
event). Which inputs a model uses, and the levels of each category, are learned from the
training period once (`inputs_fit`) and written into the bundle manifest, so batch and
live scoring encode an event the same way (`inputs_frame`, `inputs_row`).

Categories become integer codes for LightGBM's categorical handling: level k of the
manifest's list is code k; a level seen fewer than `min_count` times in training, or
never seen, is the shared code of "other"; a missing value is NaN, so an event that does
not send the field is never mistaken for one that sent a rare value.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd

# Contract fields that are categories in their own right.
CONTRACT_CATEGORIES = ("category", "event_type", "country", "currency")
# A text column with more distinct values than this (after grouping rare ones) is an
# identifier, not a category: it would let the trees memorise rows.
MAX_LEVELS = 200
# Levels seen fewer times than this in training are grouped as "other".
MIN_LEVEL_COUNT = 30
# An input present on fewer training rows than this share is not used: its missingness
# would say more about which client sent the event than about fraud.
MIN_PRESENT_SHARE = 0.01
OTHER = "(other)"
INPUT_PREFIX = "attr_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")  # LightGBM refuses JSON-special characters in names
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$")
_MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class InputSpec:
    """One model input taken from the event itself.

    `name` is the model's feature name: the contract field (`category`) or `attr_<key>` (characters other than letters, digits and _ become _).
    `kind` is "number", "category" or "date" (days from that date to the event)."""

    name: str
    source: str  # contract field or attribute key
    kind: str
    levels: tuple[str, ...] = field(default=())

    @property
    def from_attributes(self) -> bool:
        return self.name.startswith(INPUT_PREFIX)

    def as_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "kind": self.kind, "levels": list(self.levels)}

    @classmethod
    def from_manifest(cls, raw: Mapping[str, Any]) -> InputSpec:
        return cls(name=str(raw["name"]), source=str(raw["source"]), kind=str(raw["kind"]),
                   levels=tuple(str(v) for v in raw.get("levels", ())))

    def describe(self, value: float | None) -> str:
        """Plain words for an encoded value, e.g. 'category is grocery_pos'."""
        label = self.source.replace("_", " ")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{label} not given"
        if self.kind == "category":
            code = int(value)
            level = self.levels[code] if 0 <= code < len(self.levels) else OTHER
            return f"{label} is {'a rarely seen value' if level == OTHER else level}"
        if self.kind == "date":
            return f"{label} {value / 365.25:,.1f} years before the event"
        return f"{label} is {value:,.4g}"


def attribute_columns(attributes: pd.Series) -> pd.DataFrame:
    """Stored `attributes` (JSON text or dicts, one per event) as one column per key."""
    records = [
        (orjson.loads(value) if isinstance(value, (str, bytes)) and value else value) or {}
        for value in attributes.tolist()
    ]
    return pd.DataFrame.from_records(records, index=attributes.index) if records else pd.DataFrame(index=attributes.index)


def inputs_fit(events: pd.DataFrame, *, ignore: Sequence[str] = ()) -> list[InputSpec]:
    """The inputs a model trained on `events` uses, with category levels from these rows.

    `events` has the contract columns and optionally `attributes` (JSON text or dicts).
    Columns named in `ignore` (e.g. the generator's scenario) are never inputs."""
    specs: list[InputSpec] = []
    candidates: dict[str, tuple[str, pd.Series]] = {}
    for name in CONTRACT_CATEGORIES:
        if name in events.columns:
            candidates[name] = (name, events[name])
    if "attributes" in events.columns:
        table = attribute_columns(events["attributes"])
        for key in table.columns:
            if key not in ignore:
                candidates.setdefault(INPUT_PREFIX + _UNSAFE.sub("_", str(key)), (str(key), table[key]))
    n = max(len(events), 1)
    for name, (source, values) in candidates.items():
        values = values.where(values.astype("string").fillna("").str.strip() != "") if values.dtype == object or pd.api.types.is_string_dtype(values) else values
        present = values.notna()
        if present.sum() / n < MIN_PRESENT_SHARE:
            continue
        kind = _kind(values[present], contract=not name.startswith(INPUT_PREFIX))
        if kind != "category":
            specs.append(InputSpec(name=name, source=source, kind=kind))
            continue
        counts = values[present].astype(str).value_counts()
        levels = sorted(str(v) for v in counts[counts >= MIN_LEVEL_COUNT].index)
        if len(levels) < 2 and counts.size < 2:
            continue  # one value everywhere says nothing
        if len(levels) > MAX_LEVELS:
            continue
        specs.append(InputSpec(name=name, source=source, kind="category", levels=tuple(levels)))
    return specs


def _kind(values: pd.Series, *, contract: bool) -> str:
    if contract:
        return "category"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return "number"
    sample = values.astype(str).head(1000)
    if sample.str.match(_DATE).all():
        return "date"
    return "category"


def inputs_frame(events: pd.DataFrame, specs: Sequence[InputSpec]) -> pd.DataFrame:
    """Encoded inputs for every event (float64 columns named by the specs), aligned to
    `events`' index. Needs `timestamp` for date inputs."""
    out: dict[str, np.ndarray] = {}
    table = None
    if any(spec.from_attributes for spec in specs):
        table = attribute_columns(events["attributes"]) if "attributes" in events.columns else pd.DataFrame(index=events.index)
    event_ms = None
    for spec in specs:
        if spec.from_attributes:
            values = table[spec.source] if spec.source in table.columns else pd.Series(np.nan, index=events.index)
        else:
            values = events[spec.source] if spec.source in events.columns else pd.Series(np.nan, index=events.index)
        if spec.kind == "number":
            out[spec.name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        elif spec.kind == "date":
            if event_ms is None:
                event_ms = _epoch_ms(events["timestamp"])
            out[spec.name] = (event_ms - _epoch_ms(values)) / _MS_PER_DAY
        else:
            out[spec.name] = _codes(values, spec.levels)
    return pd.DataFrame(out, index=events.index, columns=[spec.name for spec in specs])


def inputs_row(event: Mapping[str, Any], specs: Sequence[InputSpec]) -> dict[str, float]:
    """`inputs_frame` for one live event (a dict with the contract fields and `attributes`)."""
    attributes = event.get("attributes") or {}
    if isinstance(attributes, (str, bytes)):
        attributes = orjson.loads(attributes) if attributes else {}
    row: dict[str, float] = {}
    for spec in specs:
        value = attributes.get(spec.source) if spec.from_attributes else event.get(spec.source)
        if value is None or (isinstance(value, str) and not value.strip()):
            row[spec.name] = math.nan
        elif spec.kind == "number":
            row[spec.name] = _number(value)
        elif spec.kind == "date":
            frame = pd.DataFrame({"timestamp": [event["timestamp"]], spec.source: [value]})
            row[spec.name] = float(((_epoch_ms(frame["timestamp"]) - _epoch_ms(frame[spec.source])) / _MS_PER_DAY)[0])
        else:
            # `_codes` for one value, without building a Series: this runs on every /score.
            if isinstance(value, float) and math.isnan(value):
                row[spec.name] = math.nan
            else:
                index = _level_index(spec.levels)
                row[spec.name] = float(index.get(str(value), len(index)))
    return row


@functools.lru_cache(maxsize=256)
def _level_index(levels: tuple[str, ...]) -> dict[str, int]:
    return {level: i for i, level in enumerate(levels)}


def categorical_names(specs: Sequence[InputSpec]) -> list[str]:
    return [spec.name for spec in specs if spec.kind == "category"]


def _codes(values: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """Level index per value; len(levels) for any other value ("other"); NaN when missing."""
    text = values.astype("string")
    missing = text.isna() | (text.str.strip() == "")
    index = pd.Index(levels)
    codes = index.get_indexer(text.fillna("").astype(str)).astype("float64")
    codes[codes < 0] = len(levels)
    codes[missing.fillna(True).to_numpy(dtype=bool)] = np.nan
    return codes


def _epoch_ms(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64")
    stamps = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    ms = stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ms]").astype("int64").to_numpy().astype("float64")
    ms[stamps.isna().to_numpy()] = np.nan
    return ms


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan
