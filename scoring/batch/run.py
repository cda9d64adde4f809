"""Batch scoring: apply a model to a whole table of events at once. No Django here.

The same batch features that trained the model, the model's calibrated probability, the
tier and risk score as live scoring gives them, and for events in the tiers reviewers
look at first, the top reasons in plain words. Reasons come from LightGBM's built-in TreeSHAP
(`pred_contrib`), the same SHAP values the live explanations compute, in C++ threads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import lightgbm
import numpy as np
import pandas as pd

from core.files import frame_write
from ml import tiers
from ml.calibration import calibrated_probability
from ml.design import Design
from ml.features import describe_feature

CHUNK = 100_000
TOP_REASONS = 3
# TreeSHAP costs about half a millisecond per event for a few hundred trees, so by default
# only the high tier (what reviewers see first) gets reasons.
EXPLAINED_TIERS = ("high",)
MONEY = "_amount_in_reporting_currency"
OUTPUT_COLUMNS = ("event_id", "account_id", "timestamp", "amount", "probability", "risk_score", "tier", "expected_loss", "reasons")


@dataclass(frozen=True)
class BatchModel:
    """What batch scoring needs from a model version."""

    name: str
    booster: lightgbm.Booster
    feature_names: Sequence[str]
    thresholds: Mapping[str, float]
    calibration: Mapping[str, Any]
    # The manifest's inputs and missing-value policy; a model without inputs has none.
    design: Design | None = None

    @property
    def model_design(self) -> Design:
        return self.design or Design(engineered=tuple(self.feature_names))


def score_frame(events: pd.DataFrame, model: BatchModel, **options: Any) -> pd.DataFrame:
    """Score every event (or those where `score_mask` is true; the others serve as history).

    Returns one row per scored event with OUTPUT_COLUMNS: calibrated probability, 0–100
    risk score, tier, expected loss (probability × amount, `default_event_value` when no
    amount) and `reasons` ("; "-joined plain words) for the tiers in `explain_tiers`.
    For tiers in `feature_tiers` a `features` column holds the feature vector (NaN as
    None), for explanations computed later; None for other rows. `options` are
    `score_chunks`'s, which scores the same in parts.
    """
    parts = list(score_chunks(events, model, **options))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def score_chunks(
    events: pd.DataFrame,
    model: BatchModel,
    *,
    score_mask: np.ndarray | None = None,
    default_event_value: float = 50.0,
    explain_tiers: Sequence[str] = EXPLAINED_TIERS,
    feature_tiers: Sequence[str] = (),
    progress: Callable[[str, int], None] | None = None,
    money: Callable[[Any, Any, Any], np.ndarray] | None = None,
) -> Iterator[pd.DataFrame]:
    """`score_frame` in parts of CHUNK scored events, in order: the features of every event
    are computed by this call (a forked process helps with a big batch), each part's scores
    as it is taken, so a caller can store one part while the next is scored. `money`
    (amounts, currencies, timestamps) -> amounts in the reporting currency, for expected loss."""
    tick = progress or (lambda stage, n: None)
    features = model.model_design.matrix(events, parallel=True, fill=False)
    tick("features", len(events))
    rows = np.arange(len(events)) if score_mask is None else np.flatnonzero(score_mask)
    scored = events.iloc[rows] if len(rows) != len(events) else events
    # The output's event columns, taken once: each part is then a slice of them, not a
    # copy of every column of the events.
    n = len(rows)
    columns = {
        # Without event ids, the event's row in the input stands in.
        "event_id": scored["event_id"].astype(str).array if "event_id" in scored else rows.astype(str),
        "account_id": scored["account_id"].astype(str).array,
        # The column's own array: to_numpy() would build a Timestamp object per row.
        "timestamp": scored["timestamp"].array,
        "amount": (pd.to_numeric(scored["amount"], errors="coerce").to_numpy(dtype="float64") if "amount" in scored
                   else np.full(n, np.nan)),
    }
    # Expected loss is money: in the reporting currency (not an output column).
    columns[MONEY] = (money(columns["amount"], scored["currency"], scored["timestamp"])
                      if money is not None and "currency" in scored else columns["amount"])
    return _scored_parts(features, rows, columns, model, default_event_value, explain_tiers, feature_tiers, tick)


def _scored_parts(features, rows, columns, model, default_event_value, explain_tiers, feature_tiers, tick):
    for start in range(0, max(len(rows), 1), CHUNK):
        part = slice(start, start + CHUNK)
        yield _scored_part(features[rows[part]], {name: values[part] for name, values in columns.items()}, model,
                           default_event_value, explain_tiers, feature_tiers, tick)


def _scored_part(
    X: np.ndarray,
    columns: Mapping[str, Any],
    model: BatchModel,
    default_event_value: float,
    explain_tiers: Sequence[str],
    feature_tiers: Sequence[str],
    tick: Callable[[str, int], None],
) -> pd.DataFrame:
    n = len(X)
    filled = model.model_design.fill(X)
    probability = calibrated_probability(model.calibration, model.booster.predict(filled, raw_score=True)) if n else np.empty(0)
    tick("scoring", n)
    medium, high = model.thresholds["medium"], model.thresholds["high"]
    tier = tiers.tiers(probability, medium, high)
    columns = dict(columns)
    money = columns.pop(MONEY)
    out = pd.DataFrame({
        **columns,
        "probability": probability,
        "risk_score": tiers.risk_scores(probability, medium, high),
        "tier": tier,
        "expected_loss": tiers.expected_loss(probability, money, default_event_value),
    })
    reasons = np.full(n, "", dtype=object)
    explain = np.flatnonzero(np.isin(tier, list(explain_tiers)))
    if len(explain):
        contributions = model.booster.predict(filled[explain], pred_contrib=True)
        reasons[explain] = top_reasons(X[explain], contributions, model.feature_names, describe=model.model_design.describe)
    out["reasons"] = reasons
    tick("reasons", len(explain))
    if feature_tiers:
        vectors = np.full(n, None, dtype=object)
        keep = np.flatnonzero(np.isin(tier, list(feature_tiers)))
        vectors[keep] = [
            {name: (None if math.isnan(v) else v) for name, v in zip(model.feature_names, values)}
            for values in X[keep].tolist()
        ]
        out["features"] = vectors
    return out


def top_reasons(
    X: np.ndarray, contributions: np.ndarray, names: Sequence[str], limit: int = TOP_REASONS,
    describe: Callable[[str, float | None], str] = describe_feature,
) -> list[str]:
    """The features that raise each row's risk most, in plain words.

    `contributions` is LightGBM's `pred_contrib` output for the rows of X (SHAP values in
    log-odds, one column per feature and the base value last); X holds the values as the
    event gave them (before the missing-value fill), which the words describe.
    """
    effects = contributions[:, : len(names)]
    top = np.argsort(-effects, axis=1)[:, :limit]
    reasons = []
    for row, (values, order) in enumerate(zip(X, top)):
        texts = [
            describe(names[j], None if np.isnan(values[j]) else float(values[j]))
            for j in order
            if effects[row, j] > 1e-6
        ]
        reasons.append("; ".join(texts))
    return reasons


def tier_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Events, share, fraud probability mass and expected loss per tier, high first."""
    grouped = scored.groupby("tier").agg(
        events=("probability", "size"),
        mean_probability=("probability", "mean"),
        expected_loss=("expected_loss", "sum"),
    )
    grouped = grouped.reindex(["high", "medium", "low"]).fillna(0)
    grouped["share"] = grouped["events"] / max(len(scored), 1)
    grouped["events"] = grouped["events"].astype(int)
    return grouped


def write_scores(scored: pd.DataFrame, path: Path | str) -> Path:
    """Write scores to .csv or .parquet (by suffix), via a temporary file renamed at the end."""
    return frame_write(scored, path, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
