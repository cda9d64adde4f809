"""Turning a model's raw log-odds into probabilities that mean what they say.

LightGBM's raw probabilities are ranked well but not calibrated once early stopping and
class weights are involved. We fit Platt scaling (a one-feature logistic regression on
the raw log-odds) on the validation period. It is monotonic, so ranking, average
precision and the top-k lists are unchanged, and it is two numbers in the manifest.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.linear_model import LogisticRegression

IDENTITY: dict[str, Any] = {"method": "platt", "slope": 1.0, "intercept": 0.0}


def fit_platt(raw_log_odds: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fit p = 1 / (1 + exp(-(slope * raw + intercept))) on validation log-odds and labels (0/1)."""
    x = np.asarray(raw_log_odds, dtype="float64").reshape(-1, 1)
    y = np.asarray(y).astype(int)
    # Platt's smoothed targets ((n+ + 1) / (n+ + 2) for fraud, 1 / (n- + 2) for legitimate)
    # keep the fit finite when validation is (almost) separable; each row enters twice,
    # once per class, weighted by its target.
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    model = LogisticRegression(C=1e6, max_iter=1000)  # the smoothing regularises; no extra penalty
    model.fit(np.vstack([x, x]), np.r_[np.ones(len(y)), np.zeros(len(y))], sample_weight=np.r_[target, 1 - target])
    return {"method": "platt", "slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}


def calibrated_probability(calibration: Mapping[str, Any] | None, raw_log_odds: np.ndarray) -> np.ndarray:
    """Apply a stored calibration to raw log-odds; returns probabilities in (0, 1)."""
    cal = calibration or IDENTITY
    z = cal["slope"] * np.asarray(raw_log_odds, dtype="float64") + cal["intercept"]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def check_calibration(calibration: Any) -> str | None:
    """A message saying what is wrong with a stored calibration, or None when it is usable."""
    if not isinstance(calibration, Mapping) or calibration.get("method") != "platt":
        return "manifest has no Platt calibration"
    for key in ("slope", "intercept"):
        value = calibration.get(key)
        if not isinstance(value, (int, float)) or not np.isfinite(value):
            return f"calibration {key} is missing or not a number"
    if calibration["slope"] <= 0:
        return "calibration slope must be positive (it would reverse the ranking)"
    return None


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted vs observed fraud share per quantile bin: (mean_p, observed, count)."""
    order = np.argsort(p)
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    mean_p = np.array([p[c].mean() for c in chunks])
    observed = np.array([y[c].mean() for c in chunks])
    counts = np.array([len(c) for c in chunks])
    return mean_p, observed, counts
