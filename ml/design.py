"""What a model reads, in one object: engineered features, the event's own inputs, and the
missing-value policy. No Django here.

Training fits a `Design` on its training rows (`design_fit`) and writes it into the bundle
manifest; every scoring path rebuilds it from there (`Design.from_manifest`) and asks it
for the model's matrix, so batch scoring, live scoring, shadow scoring and the dashboards
encode an event the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ml.features import (
    FIELD_WITNESSES,
    batch_feature_matrix,
    describe_feature,
    feature_fields,
    field_presence,
)
from ml.inputs import InputSpec, categorical_names, inputs_fit, inputs_frame, inputs_row
from ml.missing import filled_features, missing_fill, missing_policy_fit


@dataclass(frozen=True)
class Design:
    engineered: tuple[str, ...]
    inputs: tuple[InputSpec, ...] = ()
    missing: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.engineered, *(spec.name for spec in self.inputs)]

    @property
    def categorical(self) -> list[str]:
        return categorical_names(self.inputs)

    def matrix(self, events: pd.DataFrame, *, parallel: bool = False, fill: bool = True) -> np.ndarray:
        """The model's matrix (events × names, float64) for a table of events."""
        engineered = batch_feature_matrix(events, names=self.engineered, parallel=parallel)
        if self.inputs:
            engineered = np.hstack([engineered, inputs_frame(events, self.inputs).to_numpy(dtype="float64")])
        return self.fill(engineered) if fill else engineered

    def matrix_with(self, engineered: np.ndarray, events: pd.DataFrame) -> np.ndarray:
        """The engineered features already computed (rows × `engineered`) with the
        inputs of the same `events` added: every column the model reads, unfilled."""
        if not self.inputs:
            return engineered
        return np.hstack([engineered, inputs_frame(events, self.inputs).to_numpy(dtype="float64")])

    def frame(self, events: pd.DataFrame, *, parallel: bool = False) -> pd.DataFrame:
        """`matrix` before the missing-value fill, as a DataFrame aligned to `events`."""
        return pd.DataFrame(self.matrix(events, parallel=parallel, fill=False), index=events.index, columns=self.names)

    def with_inputs(self, features: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
        """Engineered `features` (a `batch_features` frame) with this design's inputs of
        `events` added as columns: every column the model reads, unfilled."""
        if not self.inputs:
            return features
        return pd.concat([features, inputs_frame(events, self.inputs).set_axis(features.index)], axis=1)

    def fill(self, matrix: np.ndarray) -> np.ndarray:
        return missing_fill(matrix, self.names, self.missing)

    def input_values(self, event: Mapping[str, Any]) -> dict[str, float]:
        """The event's own inputs for a live event (a dict with the contract fields)."""
        return inputs_row(event, self.inputs) if self.inputs else {}

    def row_matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's matrix from feature rows (name → value, None for missing), filled."""
        matrix = np.array([[_number(row.get(name)) for name in self.names] for row in rows], dtype="float64")
        return self.fill(matrix.reshape(len(rows), len(self.names)))

    def describe(self, name: str, value: float | None, *, filled: bool = False) -> str:
        """Plain words for one feature value; `filled` when the event did not send it."""
        spec = next((s for s in self.inputs if s.name == name), None)
        if filled:
            label = (spec.source if spec else name).replace("_", " ")
            return f"{label}: not sent, counted as typical"
        if spec is not None:
            return spec.describe(value)
        return describe_feature(name, value)

    def filled(self, row: Mapping[str, Any]) -> set[str]:
        return filled_features(row, self.missing)

    def as_manifest(self) -> dict[str, Any]:
        return {"inputs": [spec.as_manifest() for spec in self.inputs], "missing": dict(self.missing)}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Design:
        inputs = tuple(InputSpec.from_manifest(raw) for raw in manifest.get("inputs", ()))
        input_names = {spec.name for spec in inputs}
        engineered = tuple(f["name"] for f in manifest["features"] if f["name"] not in input_names)
        return cls(engineered=engineered, inputs=inputs, missing=manifest.get("missing") or {})


def design_fit(events: pd.DataFrame, engineered: Sequence[str], features: np.ndarray, *, ignore: Sequence[str] = ("scenario",)) -> Design:
    """The design of a model trained on `events` (the training rows) whose engineered
    features `features` (rows × `engineered`, before any fill) were computed already."""
    inputs = tuple(inputs_fit(events, ignore=ignore))
    unfilled = Design(engineered=tuple(engineered), inputs=inputs)
    matrix = features
    if inputs:
        matrix = np.hstack([features, inputs_frame(events, inputs).to_numpy(dtype="float64")])
    presence = field_presence(events)
    presence.update({spec.name: float(np.mean(~np.isnan(matrix[:, len(engineered) + k]))) for k, spec in enumerate(inputs)})
    fields = {name: feature_fields(name) for name in engineered}
    fields.update({spec.name: (spec.name,) for spec in inputs})
    witnesses = {**FIELD_WITNESSES, **{spec.name: spec.name for spec in inputs}}
    policy = missing_policy_fit(
        matrix, unfilled.names, field_presence=presence, feature_fields=fields, witnesses=witnesses,
        categorical=unfilled.categorical,
    )
    return Design(engineered=tuple(engineered), inputs=inputs, missing=policy)


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
