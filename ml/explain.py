"""SHAP explanations of single scores, turned into reasons a reviewer can read."""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import lightgbm
import numpy as np

from ml.features import describe_feature

if TYPE_CHECKING:
    import shap

    from ml.design import Design

TOP_REASONS = 5

# shap warns on every LightGBM explanation that its output shape changed in some release;
# explain_rows reads both shapes, so nobody can act on it. Its plotting colours, imported
# with shap, use matplotlib calls announced for deprecation; we draw no shap plots.
warnings.filterwarnings(
    "ignore",
    message="LightGBM binary classifier with TreeExplainer shap values output has changed",
    category=UserWarning,
    module=r"shap\.explainers\._tree",
)
warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.plots\.colors\._colors")


def make_explainer(booster: lightgbm.Booster) -> shap.TreeExplainer:
    # Imported here: shap (with its plotting) takes about a second to import, and only the
    # processes that explain scores need it.
    import shap

    return shap.TreeExplainer(booster)


def explain_rows(
    explainer: shap.TreeExplainer, rows: Sequence[Mapping[str, float]], feature_names: Sequence[str],
    design: Design | None = None,
) -> list[dict[str, Any]]:
    """SHAP values (log-odds units) for each row, with plain-words top reasons.

    Each result holds `base_value`, `contributions` (every feature: name, value, shap,
    text) sorted by absolute effect, and `reasons`: the top few that raise or lower risk.
    With the model's `design`, the values its missing-value policy fills are explained as
    the model scored them and described as "not sent, counted as typical".
    """
    X = np.array([[_nan(row.get(name)) for name in feature_names] for row in rows], dtype="float64")
    X = X.reshape(len(rows), len(feature_names))
    describe = design.describe if design is not None else (lambda name, value, filled=False: describe_feature(name, value))
    filled_names = [design.filled(row) for row in rows] if design is not None else [set()] * len(rows)
    values = explainer.shap_values(design.fill(X) if design is not None else X)
    if isinstance(values, list):  # older shap returns one array per class
        values = values[-1]
    base = explainer.expected_value
    base_value = float(base[-1] if np.ndim(base) else base)
    results = []
    for row_values, row_shap, filled in zip(X, np.atleast_2d(values), filled_names):
        contributions = [
            {
                "feature": name,
                "value": None if math.isnan(value) else float(value),
                "shap": float(effect),
                "text": describe(name, None if math.isnan(value) else float(value), filled=name in filled),
            }
            for name, value, effect in zip(feature_names, row_values, row_shap)
        ]
        contributions.sort(key=lambda c: abs(c["shap"]), reverse=True)
        results.append(
            {
                "base_value": base_value,
                "contributions": contributions,
                "reasons": reasons_from(contributions),
            }
        )
    return results


def reasons_from(contributions: Sequence[Mapping[str, Any]], limit: int = TOP_REASONS) -> list[dict[str, Any]]:
    reasons = []
    for item in contributions[:limit]:
        if abs(item["shap"]) < 1e-6:
            continue
        reasons.append(
            {
                "feature": item["feature"],
                "text": item["text"],
                "direction": "raises" if item["shap"] > 0 else "lowers",
                "shap": round(float(item["shap"]), 4),
            }
        )
    return reasons


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)
