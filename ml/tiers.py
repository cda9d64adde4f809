"""From probability to what a reviewer sees: a 0–100 risk score, a tier and an expected loss."""
from __future__ import annotations

import math

import numpy as np

# Score bands per tier: low 0–49, medium 50–79, high 80–100. The score is piecewise
# linear in probability between the tier thresholds, so "score ≥ 80" means "high tier"
# for every model version, whatever its thresholds.
LOW_BAND = (0.0, 49.0)
MEDIUM_BAND = (50.0, 79.0)
HIGH_BAND = (80.0, 100.0)


def risk_scores(probability: np.ndarray, medium: float, high: float) -> np.ndarray:
    """Probabilities (0–1) to integer risk scores (0–100) given the tier thresholds."""
    p = np.clip(np.asarray(probability, dtype="float64"), 0.0, 1.0)
    low = LOW_BAND[0] + (LOW_BAND[1] - LOW_BAND[0]) * p / max(medium, 1e-12)
    mid = MEDIUM_BAND[0] + (MEDIUM_BAND[1] - MEDIUM_BAND[0]) * (p - medium) / max(high - medium, 1e-12)
    top = HIGH_BAND[0] + (HIGH_BAND[1] - HIGH_BAND[0]) * (p - high) / max(1.0 - high, 1e-12)
    score = np.where(p >= high, top, np.where(p >= medium, mid, low))
    return np.floor(np.clip(score, 0, 100)).astype(int)


def tiers(probability: np.ndarray, medium: float, high: float) -> np.ndarray:
    p = np.asarray(probability, dtype="float64")
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def expected_loss(probability: np.ndarray, amount: np.ndarray, default_value: float) -> np.ndarray:
    """Probability × money at stake; events without an amount count `default_value`."""
    value = np.asarray(amount, dtype="float64")
    value = np.where(np.isnan(value), default_value, value)
    return np.round(np.asarray(probability, dtype="float64") * value, 2)


def single(probability: float, medium: float, high: float) -> tuple[int, str]:
    if math.isnan(probability):
        raise ValueError("probability is NaN")
    arr = np.array([probability])
    return int(risk_scores(arr, medium, high)[0]), str(tiers(arr, medium, high)[0])
