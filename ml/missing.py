"""Missing is not fraud: what a model does with a field an event does not send. No Django.

A model learns what an absent value means only from the rows it was trained on. When a
field was sent with almost every training event (say every client sent a device id) and a
new client never sends it, the trees route the event down branches that no training
event took — in practice the branches of the rare oddities, often fraud. So the policy is
decided per field, from the training rows, and stored in the bundle manifest:

* a field present on at least MOSTLY_PRESENT of the training rows is *expected*: when an
  event lacks it, every feature computed only from absent fields takes its typical value
  (the training median; for a category, its most common level), as if the field had been
  sent with an ordinary value — its absence neither raises nor lowers the risk;
* a field present on fewer rows is *optional*: the model saw it missing often enough to
  learn what that means, so NaN is kept;
* a field present on fewer than `ml.inputs.MIN_PRESENT_SHARE` of the rows is not used at
  all (see `available_features` and `inputs_fit`), so sending it changes nothing.

Whether an event lacks a field is read from a *witness* feature that is NaN exactly when
the field is absent (`ml.features.FIELD_WITNESSES`; each input is its own witness),
so the policy works on the feature matrix alone, the same way in every scoring path.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

MOSTLY_PRESENT = 0.95


def missing_policy_fit(
    matrix: np.ndarray,
    names: Sequence[str],
    *,
    field_presence: Mapping[str, float],
    feature_fields: Mapping[str, Sequence[str]],
    witnesses: Mapping[str, str],
    categorical: Sequence[str] = (),
) -> dict[str, Any]:
    """The per-field policy from training rows.

    `matrix` (rows × names) holds the training features; `field_presence` the share of
    training rows that sent each field; `feature_fields` the fields each feature is
    computed from (empty for features every event has, such as the hour); `witnesses`
    the feature that is NaN exactly when a field is absent. Returns a JSON-able dict:
    `expected_fields`, and per filled feature its `fill` value and `when_absent` fields.
    """
    index = {name: j for j, name in enumerate(names)}
    expected = sorted(f for f, share in field_presence.items() if share >= MOSTLY_PRESENT and witnesses.get(f) in index)
    rules: dict[str, dict[str, Any]] = {}
    for name in names:
        fields = list(feature_fields.get(name, ()))
        if not fields or not all(f in expected for f in fields):
            continue
        column = matrix[:, index[name]]
        known = column[~np.isnan(column)]
        if not len(known):
            continue
        if name in categorical:
            levels, counts = np.unique(known, return_counts=True)
            fill = float(levels[np.argmax(counts)])
        else:
            fill = float(np.median(known))
        rules[name] = {"fill": fill, "when_absent": fields}
    return {
        "expected_fields": expected,
        "witnesses": {f: witnesses[f] for f in expected},
        "features": rules,
        "mostly_present": MOSTLY_PRESENT,
    }


def missing_fill(matrix: np.ndarray, names: Sequence[str], policy: Mapping[str, Any] | None) -> np.ndarray:
    """`matrix` (rows × names, float) with the policy's typical values in place of the
    features of fields an event lacks; returns a new array (the input is not changed)
    when anything is filled, else the input."""
    if not policy or not policy.get("features") or not len(matrix):
        return matrix
    index = {name: j for j, name in enumerate(names)}
    absent: dict[str, np.ndarray] = {}
    for field, witness in policy.get("witnesses", {}).items():
        if witness in index:
            absent[field] = np.isnan(matrix[:, index[witness]])
    out = None
    for name, rule in policy["features"].items():
        if name not in index or not all(f in absent for f in rule["when_absent"]):
            continue
        rows = np.logical_and.reduce([absent[f] for f in rule["when_absent"]])
        rows &= np.isnan(matrix[:, index[name]])
        if rows.any():
            if out is None:
                out = np.array(matrix, dtype="float64", copy=True)
            out[rows, index[name]] = rule["fill"]
    return matrix if out is None else out


def filled_features(row: Mapping[str, float], policy: Mapping[str, Any] | None) -> set[str]:
    """Which features of one feature row (name → value) the policy fills: for reasons
    that say "not sent, treated as typical" instead of a made-up value."""
    if not policy:
        return set()
    absent = {f for f, w in policy.get("witnesses", {}).items() if _is_nan(row.get(w))}
    return {name for name, rule in policy.get("features", {}).items()
            if all(f in absent for f in rule["when_absent"]) and _is_nan(row.get(name))}


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
