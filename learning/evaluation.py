"""Champion versus challenger on one holdout: metrics and the promotion rule. No Django here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from ml.features import to_epoch_ms


def holdout_mask(events: pd.DataFrame, fraction: float) -> np.ndarray:
    """Boolean mask of the most recent `fraction` of labeled events (`is_fraud` not NaN), by event time."""
    labeled = events["is_fraud"].notna().to_numpy()
    times = to_epoch_ms(events["timestamp"])
    cut = np.quantile(times[labeled], 1 - fraction)
    return labeled & (times >= cut)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed fraud rate − mean predicted probability| over equal-width probability
    bins, weighted by the share of rows in each bin. 0 is perfectly calibrated."""
    y = np.asarray(y, dtype="float64")
    p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(total)


def holdout_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Ranking and calibration of probabilities `p` (0–1) against labels `y` (0/1)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype="float64")
    metrics: dict[str, Any] = {"rows": int(len(y)), "fraud_rows": int(y.sum())}
    if 0 < y.sum() < len(y):
        metrics["average_precision"] = float(average_precision_score(y, p))
        metrics["roc_auc"] = float(roc_auc_score(y, p))
    metrics["brier"] = float(brier_score_loss(y, p)) if len(y) else None
    metrics["ece"] = expected_calibration_error(y, p) if len(y) else None
    return metrics


@dataclass(frozen=True)
class PromotionRule:
    """The challenger must gain at least `min_ap_gain` average precision and may lose at most
    `brier_tolerance` Brier score and `ece_tolerance` calibration error."""

    min_ap_gain: float = 0.01
    brier_tolerance: float = 0.002
    ece_tolerance: float = 0.02


def promotion_verdict(champion: dict[str, Any] | None, challenger: dict[str, Any], rule: PromotionRule) -> tuple[bool, str]:
    """(promote?, the reason in words) from both models' holdout metrics."""
    if "average_precision" not in challenger:
        return False, "the holdout has only one class, so the challenger cannot be judged"
    if champion is None:
        return True, "there is no champion to compare with"
    gain = challenger["average_precision"] - champion["average_precision"]
    facts = (
        f"average precision {challenger['average_precision']:.4f} vs {champion['average_precision']:.4f} "
        f"({gain:+.4f}, needs {rule.min_ap_gain:+.4f}); "
        f"Brier {challenger['brier']:.4f} vs {champion['brier']:.4f}; "
        f"calibration error {challenger['ece']:.4f} vs {champion['ece']:.4f}"
    )
    if gain < rule.min_ap_gain:
        return False, f"not better by the required margin: {facts}"
    if challenger["brier"] > champion["brier"] + rule.brier_tolerance:
        return False, f"worse calibrated (Brier score): {facts}"
    if challenger["ece"] > champion["ece"] + rule.ece_tolerance:
        return False, f"worse calibrated (calibration error): {facts}"
    return True, f"better on the holdout: {facts}"
