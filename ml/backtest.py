"""Prequential backtests: train as of a day, score the weeks after it, compare with baselines.
No Django here.

A fold imitates deploying a model on day T: it trains only on events before T whose
labels were known by T, and is tested on the events from T + label delay on (the week a
model trained on T would score once its own labels had caught up is not what matters;
what matters is that nothing of the test period, nor any label not yet known at T,
reaches training). Features are point-in-time, so they are computed once for the whole
table: an event's features use only events and labels known before it.

Every fold compares, on the same rows and the same training labels:

* `lightgbm`: the recipe `train` uses (`ml.training.fit_champion`): our features and
  the event's own inputs, the missing-value policy, the trial budget, calibration, tiers;
* `logistic_regression` and `random_forest` on the same features (the two baselines);
* `textbook_gbm`: the same LightGBM recipe on the textbook per-entity window features
  (`ml.textbook`), the reference any feature engine must beat.

Figures per fold and model: ROC AUC, average precision, precision and recall of each tier
(tiers cut on the fold's validation period at the team's capacity), precision of the top
k accounts a day with accounts already caught earlier in the fold removed, money caught in
the high tier, and the tier mix.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ml.design import Design, design_fit
from ml.features import MS_PER_DAY, available_features, batch_feature_matrix, label_known_ms, to_epoch_ms
from ml.textbook import TEXTBOOK_NAMES, textbook_features
from ml.training import (
    TrainingConfig,
    _baselines,
    _categorical_columns,
    choose_thresholds,
    evaluate,
    fit_champion,
)

Progress = Callable[[str], None]
MODELS = ("lightgbm", "logistic_regression", "random_forest", "textbook_gbm")


@dataclass(frozen=True)
class Fold:
    """Train on events in [train_from, train_until) with labels known by train_until;
    test on events in [test_from, test_until)."""

    train_from: pd.Timestamp | None
    train_until: pd.Timestamp
    test_from: pd.Timestamp
    test_until: pd.Timestamp

    def as_dict(self) -> dict[str, str | None]:
        return {k: (None if v is None else v.isoformat()) for k, v in self.__dict__.items()}


def weekly_folds(
    *, test_until: pd.Timestamp, folds: int, test_days: float = 7.0, delay_days: float = 7.0,
    train_days: float | None = None,
) -> list[Fold]:
    """`folds` consecutive test periods of `test_days` ending at `test_until`, oldest first;
    each trains up to `delay_days` before its test period starts (on the `train_days`
    before that, or on all earlier history)."""
    out = []
    for k in range(folds, 0, -1):
        test_from = test_until - pd.Timedelta(days=test_days * k)
        train_until = test_from - pd.Timedelta(days=delay_days)
        train_from = None if train_days is None else train_until - pd.Timedelta(days=train_days)
        out.append(Fold(train_from, train_until, test_from, test_from + pd.Timedelta(days=test_days)))
    return out


@dataclass
class BacktestResult:
    folds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "folds": self.folds, "summary": self.summary, "timings": self.timings}


def backtest(
    events: pd.DataFrame,
    folds: Sequence[Fold],
    config: TrainingConfig,
    *,
    models: Sequence[str] = MODELS,
    delay_days: float = 7.0,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run every fold on `events` (contract columns, `seq`, `is_fraud` with NaN where
    unknown, `label_known_at`, optionally `attributes`); see the module docstring."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    result = BacktestResult(settings={
        "delay_days": delay_days, "capacity_per_day": config.capacity_per_day, "trials": config.trials,
        "seed": config.seed, "models": list(models), "events": int(len(events)),
    })
    times = to_epoch_ms(events["timestamp"])
    _, known_ms = label_known_ms(events, times)
    label = pd.to_numeric(events["is_fraud"], errors="coerce").to_numpy(dtype="float64")
    names = available_features(events)
    say(f"computing {len(names)} features for {len(events):,} events")
    engineered = batch_feature_matrix(events, names=names, parallel=True)
    textbook = None
    if "textbook_gbm" in models:
        say("computing the textbook window features")
        textbook = textbook_features(events, delay_days=delay_days).to_numpy(dtype="float64")
    result.timings["features"] = round(time.perf_counter() - started, 1)
    amounts = pd.to_numeric(events["amount"], errors="coerce").to_numpy(dtype="float64") if "amount" in events else np.full(len(events), np.nan)
    accounts = events["account_id"].astype(str).to_numpy()

    for number, fold in enumerate(folds, 1):
        fold_started = time.perf_counter()
        until_ms = _ms(fold.train_until)
        in_train = (times < until_ms) & (known_ms <= until_ms) & ~np.isnan(label)
        if fold.train_from is not None:
            in_train &= times >= _ms(fold.train_from)
        test = (times >= _ms(fold.test_from)) & (times < _ms(fold.test_until)) & ~np.isnan(label)
        rows = np.flatnonzero(in_train | test)
        y = np.nan_to_num(label[rows]).astype(int)
        t = times[rows]
        fit, valid = _fit_and_validation(t, known_ms[rows], in_train[rows], config)
        test_rows = test[rows]
        entry: dict[str, Any] = {"fold": number, **fold.as_dict(), "rows": {
            "train": int(fit.sum()), "validation": int(valid.sum()), "test": int(test_rows.sum()),
            "test_fraud": int(y[test_rows].sum())}, "models": {}}
        if y[fit].sum() == 0 or y[valid].sum() == 0 or y[test_rows].sum() == 0:
            entry["skipped"] = "a period has no fraud"
            result.folds.append(entry)
            say(f"fold {number}: skipped, a period has no fraud")
            continue
        fold_events = events.iloc[rows]
        valid_days = max((t[valid].max() - t[valid].min()) / MS_PER_DAY, 1.0)

        def score(name: str, p_valid: np.ndarray, p_test: np.ndarray) -> None:
            cut = choose_thresholds(p_valid, valid_days, config)
            entry["models"][name] = fold_metrics(
                y[test_rows], p_test, cut, amounts=amounts[rows][test_rows], times=t[test_rows],
                accounts=accounts[rows][test_rows], config=config)

        design = design_fit(fold_events[fit], names, engineered[rows][fit])
        X = design.fill(design.matrix_with(engineered[rows], fold_events))
        if "lightgbm" in models:
            fitted = fit_champion(X, y, fit, valid, t, design, config)
            score("lightgbm", fitted.p_valid, _calibrated(fitted, X[test_rows]))
        if {"logistic_regression", "random_forest"} & set(models):
            for name, (p_valid, p_test) in _baselines(X, y, fit, valid, test_rows, config, _categorical_columns(design)).items():
                if name in models:
                    score(name, p_valid, p_test)
        if textbook is not None:
            plain = Design(engineered=TEXTBOOK_NAMES)
            fitted = fit_champion(textbook[rows], y, fit, valid, t, plain, _one_trial(config))
            score("textbook_gbm", fitted.p_valid, _calibrated(fitted, textbook[rows][test_rows]))
        entry["seconds"] = round(time.perf_counter() - fold_started, 1)
        result.folds.append(entry)
        say(f"fold {number} ({fold.test_from:%Y-%m-%d} – {fold.test_until:%Y-%m-%d}): " + ", ".join(
            f"{name} AP {m.get('average_precision', float('nan')):.3f}" for name, m in entry["models"].items()))
    result.summary = summarise(result.folds)
    result.timings["total"] = round(time.perf_counter() - started, 1)
    return result


def fold_metrics(
    y: np.ndarray, p: np.ndarray, thresholds: dict[str, float], *, amounts: np.ndarray, times: np.ndarray,
    accounts: np.ndarray, config: TrainingConfig,
) -> dict[str, Any]:
    """`ml.training.evaluate`'s figures plus the tier mix and the top-k accounts a
    day with already-caught accounts removed."""
    days = times // MS_PER_DAY
    metrics = evaluate(y, p, thresholds, amounts=amounts, days=days, accounts=accounts, config=config)
    metrics.pop("top_k_accounts", None)
    metrics["top_k_new_accounts"] = top_k_new_accounts(y, p, days, accounts, config.capacity_per_day)
    high, medium = p >= thresholds["high"], p >= thresholds["medium"]
    metrics["tier_mix"] = {"high": float(high.mean()), "medium": float((medium & ~high).mean()),
                           "low": float((~medium).mean())}
    metrics["thresholds"] = thresholds
    return metrics


def top_k_new_accounts(y: np.ndarray, p: np.ndarray, days: np.ndarray, accounts: np.ndarray, k: int) -> dict[str, Any]:
    """Each day, review the k accounts with the riskiest events among those not caught on
    an earlier day: the share that were fraud that day. An account counts as caught once a
    review of it found fraud; reviewers do not spend a slot on it again."""
    frame = pd.DataFrame({"day": days, "account": accounts, "p": p, "y": y})
    per_day = frame.groupby(["day", "account"], sort=True).agg(p=("p", "max"), y=("y", "max")).reset_index()
    caught: set[str] = set()
    reviewed = found = 0
    precisions = []
    for _, day in per_day.groupby("day", sort=True):
        fresh = day[~day["account"].isin(caught)].nlargest(k, "p")
        hits = fresh[fresh["y"] == 1]
        caught.update(hits["account"])
        reviewed += len(fresh)
        found += len(hits)
        if len(fresh):
            precisions.append(len(hits) / len(fresh))
    return {"k": int(k), "days": len(precisions), "reviewed": int(reviewed), "fraud_accounts_found": int(found),
            "precision": float(np.mean(precisions)) if precisions else 0.0}


def summarise(folds: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per model: mean and minimum over folds of AP and AUC, and on how many folds
    `lightgbm` had the best average precision of all."""
    done = [f for f in folds if f.get("models")]
    out: dict[str, dict[str, float]] = {}
    for name in sorted({m for f in done for m in f["models"]}):
        aps = [f["models"][name].get("average_precision", np.nan) for f in done if name in f["models"]]
        aucs = [f["models"][name].get("roc_auc", np.nan) for f in done if name in f["models"]]
        topk = [f["models"][name]["top_k_new_accounts"]["precision"] for f in done if name in f["models"]]
        money = [f["models"][name].get("savings", {}).get("fraud_amount_caught", 0.0) for f in done if name in f["models"]]
        out[name] = {"mean_average_precision": float(np.nanmean(aps)), "min_average_precision": float(np.nanmin(aps)),
                     "mean_roc_auc": float(np.nanmean(aucs)), "mean_top_k_precision": float(np.mean(topk)),
                     "fraud_amount_caught": float(np.sum(money)), "folds": len(aps)}
    if "lightgbm" in out:
        wins = sum(
            all(f["models"]["lightgbm"].get("average_precision", 0) > m.get("average_precision", 0)
                for name, m in f["models"].items() if name != "lightgbm")
            for f in done if "lightgbm" in f["models"]
        )
        out["lightgbm"]["folds_best"] = float(wins)
    return out


def comparison_lines(result: BacktestResult) -> list[str]:
    """The backtest as a fixed-width table: one line per fold and model, then the means."""
    header = f"{'fold':<6}{'test period':<25}{'model':<22}{'AP':>7}{'AUC':>7}{'P@high':>8}{'R@high':>8}{'top-k P':>9}{'caught':>12}{'high %':>8}"
    lines = [header, "-" * len(header)]
    for fold in result.folds:
        period = f"{fold['test_from'][:10]} – {fold['test_until'][:10]}"
        if fold.get("skipped"):
            lines.append(f"{fold['fold']:<6}{period:<25}skipped: {fold['skipped']}")
        for name, m in fold.get("models", {}).items():
            high = m.get("high_tier", {})
            lines.append(
                f"{fold['fold']:<6}{period:<25}{name:<22}{m.get('average_precision', float('nan')):>7.3f}"
                f"{m.get('roc_auc', float('nan')):>7.3f}{high.get('precision', 0):>8.3f}{high.get('recall', 0):>8.3f}"
                f"{m['top_k_new_accounts']['precision']:>9.3f}{m.get('savings', {}).get('fraud_amount_caught', 0):>12,.0f}"
                f"{100 * m['tier_mix']['high']:>7.2f}%")
    lines.append("-" * len(header))
    for name, s in result.summary.items():
        wins = f"   best on {int(s['folds_best'])} of {s['folds']} folds" if "folds_best" in s else ""
        lines.append(f"{'mean':<6}{'':<25}{name:<22}{s['mean_average_precision']:>7.3f}{s['mean_roc_auc']:>7.3f}"
                     f"{'':>16}{s['mean_top_k_precision']:>9.3f}{s['fraud_amount_caught']:>12,.0f}{wins}")
    return lines


def _fit_and_validation(
    times: np.ndarray, known: np.ndarray, in_train: np.ndarray, config: TrainingConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Within a fold's training rows, the newest `valid_fraction` validate (trials,
    calibration, tiers); the rest fit, up to the label delay before validation starts and
    with labels known by then."""
    train_times = times[in_train]
    start = np.quantile(train_times, 1 - config.valid_fraction)
    valid = in_train & (times >= start)
    fit = in_train & (times < start - config.gap_days * MS_PER_DAY) & (known <= start)
    return fit, valid


def _calibrated(fitted: Any, X: np.ndarray) -> np.ndarray:
    from ml.calibration import calibrated_probability

    return calibrated_probability(fitted.calibration, fitted.booster.predict(X, raw_score=True))


def _one_trial(config: TrainingConfig) -> TrainingConfig:
    from dataclasses import replace

    return replace(config, trials=1)


def _ms(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).tz_convert("UTC").value // 1_000_000) if pd.Timestamp(stamp).tzinfo else int(pd.Timestamp(stamp).value // 1_000_000)
