"""Fit and evaluate a LightGBM fraud model on point-in-time features. No Django here.

Input is a table of events with the data-contract columns, `seq` (ingestion order) and
`is_fraud` (NaN where unknown). Output is a fitted booster plus everything the bundle
manifest records: feature list, tier thresholds, test metrics, data fingerprint.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import lightgbm
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.features import MS_PER_DAY, available_features, batch_features, to_epoch_ms

Progress = Callable[[str], None]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
}


@dataclass
class TrainingConfig:
    capacity_per_day: int = 100
    medium_multiple: float = 4.0
    # Days between the end of training data and the start of validation/test, so rows
    # whose labels were not yet known at the cut do not leak across it.
    gap_days: float = 0.0
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))


@dataclass
class TrainingResult:
    booster: lightgbm.Booster
    feature_names: list[str]
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    fingerprint: str
    rows: dict[str, int]
    periods: dict[str, str]


class NotEnoughData(ValueError):
    """Too few labeled events, or only one class, to train and evaluate a model."""


def time_split(times_ms: np.ndarray, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks for train / validation / test, cut by time (oldest to newest)."""
    lo, hi = np.quantile(times_ms, [1 - config.valid_fraction - config.test_fraction, 1 - config.test_fraction])
    gap = config.gap_days * MS_PER_DAY
    train = times_ms < lo - gap
    valid = (times_ms >= lo) & (times_ms < hi - gap)
    test = times_ms >= hi
    return train, valid, test


def choose_thresholds(valid_probability: np.ndarray, valid_days: float, config: TrainingConfig) -> dict[str, float]:
    """Cut the high tier at about the team's daily capacity, medium at the next band."""
    per_day = len(valid_probability) / max(valid_days, 1.0)
    high_share = min(config.capacity_per_day / max(per_day, 1.0), 1.0)
    medium_share = min(high_share * (1 + config.medium_multiple), 1.0)
    high = float(np.quantile(valid_probability, 1 - high_share))
    medium = float(np.quantile(valid_probability, 1 - medium_share))
    medium = min(medium, high)
    return {"medium": medium, "high": high}


def evaluate(y: np.ndarray, p: np.ndarray, thresholds: dict[str, float]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"rows": int(len(y)), "fraud_rows": int(y.sum())}
    if 0 < y.sum() < len(y):
        metrics["roc_auc"] = float(roc_auc_score(y, p))
        metrics["average_precision"] = float(average_precision_score(y, p))
    for tier in ("high", "medium"):
        flagged = p >= thresholds[tier]
        caught = int((flagged & (y == 1)).sum())
        precision = caught / flagged.sum() if flagged.sum() else 0.0
        recall = caught / y.sum() if y.sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics[f"{tier}_tier"] = {
            "flagged": int(flagged.sum()),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
        }
    return metrics


def fingerprint(events: pd.DataFrame) -> str:
    """A short, order-independent digest of which labeled events trained the model."""
    keys = pd.util.hash_pandas_object(events[["event_id", "is_fraud"]].astype(str), index=False)
    return hashlib.sha256(np.sort(keys.to_numpy()).tobytes()).hexdigest()[:16]


def train_model(events: pd.DataFrame, config: TrainingConfig, progress: Progress | None = None) -> TrainingResult:
    say = progress or (lambda message: None)
    say(f"computing features for {len(events):,} events")
    features = batch_features(events)
    names = available_features(events)
    labeled = events["is_fraud"].notna().to_numpy()
    if labeled.sum() < 200:
        raise NotEnoughData(f"need at least 200 labeled events, have {int(labeled.sum())}")
    X = features.loc[labeled, names].to_numpy(dtype="float32")
    y = events.loc[labeled, "is_fraud"].astype(bool).to_numpy().astype(int)
    times = to_epoch_ms(events.loc[labeled, "timestamp"])
    train, valid, test = time_split(times, config)
    for part, mask in (("train", train), ("validation", valid), ("test", test)):
        if y[mask].sum() == 0 or y[mask].sum() == mask.sum():
            raise NotEnoughData(f"the {part} period has only one class; generate or import more history")

    say(f"training LightGBM on {int(train.sum()):,} events, validating on {int(valid.sum()):,}")
    train_set = lightgbm.Dataset(X[train], label=y[train], feature_name=names, free_raw_data=False)
    valid_set = lightgbm.Dataset(X[valid], label=y[valid], reference=train_set)
    booster = lightgbm.train(
        config.params,
        train_set,
        num_boost_round=config.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lightgbm.early_stopping(config.early_stopping_rounds, verbose=False),
            lightgbm.log_evaluation(0),
        ],
    )
    p_valid = booster.predict(X[valid], num_iteration=booster.best_iteration)
    valid_days = (times[valid].max() - times[valid].min()) / MS_PER_DAY
    thresholds = choose_thresholds(p_valid, valid_days, config)
    p_test = booster.predict(X[test], num_iteration=booster.best_iteration)
    metrics = {
        "test": evaluate(y[test], p_test, thresholds),
        "validation": evaluate(y[valid], p_valid, thresholds),
        "best_iteration": int(booster.best_iteration or booster.current_iteration()),
    }
    say(
        "test period: ROC AUC {auc:.3f}, average precision {ap:.3f}".format(
            auc=metrics["test"].get("roc_auc", float("nan")),
            ap=metrics["test"].get("average_precision", float("nan")),
        )
    )

    def period(mask: np.ndarray) -> str:
        return f"{pd.Timestamp(times[mask].min(), unit='ms', tz='UTC')} – {pd.Timestamp(times[mask].max(), unit='ms', tz='UTC')}"

    return TrainingResult(
        booster=booster,
        feature_names=names,
        thresholds=thresholds,
        metrics=metrics,
        fingerprint=fingerprint(events.loc[labeled]),
        rows={"train": int(train.sum()), "validation": int(valid.sum()), "test": int(test.sum())},
        periods={"train": period(train), "validation": period(valid), "test": period(test)},
    )
