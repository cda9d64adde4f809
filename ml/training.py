"""Fit, compare and evaluate fraud models on point-in-time features. No Django here.

Input is a table of events with the data-contract columns, `seq` (ingestion order),
`is_fraud` (NaN where unknown) and optionally `label_known_at`. Output is a fitted,
calibrated LightGBM booster plus everything the bundle manifest and the model report
record: feature list, tier thresholds, test metrics of LightGBM and of the two baselines
(logistic regression, random forest), the tuning trials, global SHAP importance and the
training-data fingerprint.

The split is by time: train, then validation, then test, the newest period. Training
rows whose label was not yet known when the validation period began are left out, as
they would be for a model trained on that day, and a configurable gap separates the
periods.

One module on purpose (past 500 lines): the split, the candidates, the tuning and the
figures they are judged by must use the same periods and the same features, and read as
one procedure.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import lightgbm
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml.calibration import calibrated_probability, fit_platt
from ml.design import Design, design_fit
from ml.features import (
    DEFAULT_LABEL_DELAY_MS,
    MS_PER_DAY,
    available_features,
    batch_feature_matrix,
    label_known_ms,
    to_epoch_ms,
)

Progress = Callable[[str], None]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "metric": "binary_logloss",  # smooth, so early stopping is stable; trials are ranked by AP
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
    "deterministic": True,  # same data + same seed = the same trees, byte for byte
    "force_col_wise": True,  # skip LightGBM's row/column layout probe on every fit
    # Amounts span cents to thousands: 255 bins would merge the amounts that matter.
    "max_bin": 1023,
    # Categories: rare levels are grouped before LightGBM sees them (ml.inputs); these
    # keep a category's splits from chasing its smallest remaining levels.
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
}
# The small tuning grid, tried in this order; the first `TrainingConfig.trials` entries
# are tried, whatever the machine's speed, so the same data and seed give the same model.
TUNING_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"num_leaves": 15, "min_data_in_leaf": 80},
    {"num_leaves": 63, "min_data_in_leaf": 20, "learning_rate": 0.05},
    {"scale_pos_weight": 5.0},
    {"feature_fraction": 0.7, "lambda_l2": 5.0},
)
CANDIDATES = ("lightgbm", "logistic_regression", "random_forest")


@dataclass
class TrainingConfig:
    capacity_per_day: int = 100
    medium_multiple: float = 4.0
    # The least calibrated probability of fraud an event needs to be called high / medium,
    # however much capacity is left (see `choose_thresholds`).
    high_min_probability: float = 0.30
    medium_min_probability: float = 0.05
    # Days between the end of one period and the start of the next: the label delay, so
    # validation imitates scoring a week whose labels the model could not have seen yet.
    # Training rows whose label was unknown at the cut are dropped as well.
    gap_days: float = DEFAULT_LABEL_DELAY_MS / MS_PER_DAY
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    # How many entries of TUNING_GRID are tried (a fixed budget, never a time limit), and
    # the most training rows LightGBM uses: larger training periods keep every fraud row
    # and a random sample of legitimate ones, weighted up by the inverse of the sampling
    # rate so the trees see the true class balance; calibration on the untouched
    # validation period corrects what remains.
    trials: int = 3
    lightgbm_max_rows: int = 400_000
    # Baselines train on at most this many rows (all fraud kept, legitimate rows sampled).
    baseline_max_rows: int = 60_000
    review_cost: float = 5.0  # money per reviewed case
    default_event_value: float = 50.0  # money at stake for events without an amount
    shap_sample: int = 2000  # test rows used for global SHAP importance
    seed: int = 7


@dataclass
class TrainingResult:
    booster: lightgbm.Booster
    feature_names: list[str]
    design: Design
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    fingerprint: str
    rows: dict[str, int]
    periods: dict[str, str]
    calibration: dict[str, Any] = field(default_factory=dict)
    tuning: list[dict[str, Any]] = field(default_factory=list)
    importance: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Test-period arrays the report draws from; not stored in the manifest.
    evaluation: dict[str, Any] = field(default_factory=dict, repr=False)

    def manifest(self) -> dict[str, Any]:
        """What a bundle records about this model, apart from its name and creation time."""
        return {
            "features": [{"name": n, "type": "category" if n in self.design.categorical else "float"}
                         for n in self.feature_names],
            **self.design.as_manifest(),
            "label": "is_fraud: 1 = fraud (imported label or reviewer flag), 0 = legitimate",
            "thresholds": self.thresholds,
            "calibration": self.calibration,
            "metrics": self.metrics,
            "training_data": {"fingerprint": self.fingerprint, "rows": self.rows, "periods": self.periods},
            "tuning": self.tuning,
            "global_importance": self.importance,
            "timings_seconds": self.timings,
        }


class NotEnoughData(ValueError):
    """Too few labeled events, or only one class, to train and evaluate a model."""


def time_split(
    times_ms: np.ndarray, config: TrainingConfig, known_ms: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks for train / validation / test, cut by time (oldest to newest).

    With `known_ms` (when each label became known), training rows whose label was not
    known when validation starts are dropped: a model trained that day could not see them.
    """
    lo, hi = np.quantile(times_ms, [1 - config.valid_fraction - config.test_fraction, 1 - config.test_fraction])
    gap = config.gap_days * MS_PER_DAY
    train = times_ms < lo - gap
    if known_ms is not None:
        train &= known_ms <= lo
    # No gap before the test period: the model never trains on validation rows.
    valid = (times_ms >= lo) & (times_ms < hi)
    test = times_ms >= hi
    return train, valid, test


def choose_thresholds(valid_probability: np.ndarray, valid_days: float, config: TrainingConfig) -> dict[str, float]:
    """Cut the high tier at about the team's daily capacity, medium at the next band, but
    never below the tiers' probability floors.

    Capacity alone would fill the high tier every day whatever the traffic: on a quiet
    day, or with a team larger than the fraud, events with a 0.5 % chance of fraud
    would be called high. So capacity caps the tier and the floor (a calibrated
    probability) says what the word means; a day with less fraud than capacity leaves
    reviewers time for the medium tier.
    """
    per_day = len(valid_probability) / max(valid_days, 1.0)
    high_share = min(config.capacity_per_day / max(per_day, 1.0), 1.0)
    medium_share = min(high_share * (1 + config.medium_multiple), 1.0)
    high = max(float(np.quantile(valid_probability, 1 - high_share)), config.high_min_probability)
    medium = max(float(np.quantile(valid_probability, 1 - medium_share)), config.medium_min_probability)
    medium = min(medium, high)
    return {"medium": medium, "high": high}


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    thresholds: dict[str, float],
    *,
    amounts: np.ndarray | None = None,
    days: np.ndarray | None = None,
    accounts: np.ndarray | None = None,
    config: TrainingConfig | None = None,
) -> dict[str, Any]:
    """Ranking, tier and money metrics of probabilities `p` against labels `y` (0/1).

    With `days` (integer day numbers) and `accounts`, also the precision of the top k
    accounts per day (k = reviewer capacity: an account counts as fraud that day if any
    of its events was). With `amounts`, the expected savings of reviewing the high tier:
    fraud money caught minus the review cost of every flagged event.
    """
    config = config or TrainingConfig()
    metrics: dict[str, Any] = {"rows": int(len(y)), "fraud_rows": int(y.sum())}
    if 0 < y.sum() < len(y):
        metrics["roc_auc"] = float(roc_auc_score(y, p))
        metrics["average_precision"] = float(average_precision_score(y, p))
        metrics["brier"] = float(brier_score_loss(y, np.clip(p, 0, 1)))
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
    metrics["bands"] = tier_bands(y, p, thresholds)
    if days is not None and accounts is not None and len(y):
        metrics["top_k_accounts"] = top_k_account_precision(y, p, days, accounts, config.capacity_per_day)
    if amounts is not None:
        value = np.where(np.isnan(amounts), config.default_event_value, amounts)
        flagged = p >= thresholds["high"]
        caught_money = float(value[flagged & (y == 1)].sum())
        review_cost = float(flagged.sum() * config.review_cost)
        n_days = max(len(np.unique(days)), 1) if days is not None else 1
        metrics["savings"] = {
            "fraud_amount": float(value[y == 1].sum()),
            "fraud_amount_caught": caught_money,
            "review_cost": review_cost,
            "expected_savings": caught_money - review_cost,
            "per_day": (caught_money - review_cost) / n_days,
        }
    return metrics


def tier_bands(y: np.ndarray, p: np.ndarray, thresholds: dict[str, float]) -> dict[str, dict[str, float]]:
    """What each tier means, measured: the share of events in it and the share of those
    that were fraud (so a reviewer reads "high: 62 % were fraud", not "80 means 80 %")."""
    high = p >= thresholds["high"]
    medium = (p >= thresholds["medium"]) & ~high
    out = {}
    for tier, members in (("high", high), ("medium", medium), ("low", ~(high | medium))):
        n = int(members.sum())
        out[tier] = {"events": n, "share": float(n / len(y)) if len(y) else 0.0,
                     "precision": float(y[members].mean()) if n else None}
    return out


def top_k_account_precision(y: np.ndarray, p: np.ndarray, days: np.ndarray, accounts: np.ndarray, k: int) -> dict[str, Any]:
    """Each day, rank accounts by their riskiest event and review the top k: how many were fraud?"""
    frame = pd.DataFrame({"day": days, "account": accounts, "p": p, "y": y})
    per_account = frame.groupby(["day", "account"], sort=False).agg(p=("p", "max"), y=("y", "max")).reset_index()
    per_account = per_account.sort_values(["day", "p"], ascending=[True, False])
    top = per_account.groupby("day", sort=False).head(k)
    return {
        "k": int(k),
        "days": int(per_account["day"].nunique()),
        "reviewed": int(len(top)),
        "precision": float(top["y"].mean()) if len(top) else 0.0,
        "fraud_accounts_found": int(top["y"].sum()),
        "fraud_accounts_total": int(per_account["y"].sum()),
    }


def fingerprint(events: pd.DataFrame) -> str:
    """A short, order-independent digest of which labeled events trained the model."""
    keys = pd.util.hash_pandas_object(events[["event_id", "is_fraud"]].astype(str), index=False)
    return hashlib.sha256(np.sort(keys.to_numpy()).tobytes()).hexdigest()[:16]


def train_model(events: pd.DataFrame, config: TrainingConfig, progress: Progress | None = None) -> TrainingResult:
    """Train, calibrate and evaluate on every labeled event of `events` (see the module
    docstring); the newest labeled period is the test period."""
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    names = available_features(events)
    say(f"computing {len(names)} features for {len(events):,} events")
    engineered = batch_feature_matrix(events, names=names, parallel=True)
    timings["features"] = time.perf_counter() - started
    labeled = events["is_fraud"].notna().to_numpy()
    if labeled.sum() < 200:
        raise NotEnoughData(f"need at least 200 labeled events, have {int(labeled.sum())}")
    y = events.loc[labeled, "is_fraud"].astype(bool).to_numpy().astype(int)
    all_times = to_epoch_ms(events["timestamp"])
    _, all_known = label_known_ms(events, all_times)
    times, known = all_times[labeled], all_known[labeled]
    train, valid, test = time_split(times, config, known)
    for part, mask in (("train", train), ("validation", valid), ("test", test)):
        if y[mask].sum() == 0 or y[mask].sum() == mask.sum():
            raise NotEnoughData(f"the {part} period has only one class; generate or import more history")
    labeled_events = events.loc[labeled]
    design = design_fit(labeled_events[train], names, engineered[labeled][train])
    X = design.fill(design.matrix_with(engineered[labeled], labeled_events))
    if design.inputs:
        say(f"the event's own inputs: {', '.join(spec.name for spec in design.inputs)}")

    step = time.perf_counter()
    fitted = fit_champion(X, y, train, valid, times, design, config, say)
    booster, calibration, thresholds = fitted.booster, fitted.calibration, fitted.thresholds
    timings["lightgbm"] = time.perf_counter() - step
    p_valid = fitted.p_valid
    valid_days = (times[valid].max() - times[valid].min()) / MS_PER_DAY
    raw_test = booster.predict(X[test], raw_score=True)
    p_test = calibrated_probability(calibration, raw_test)

    amounts = pd.to_numeric(events.loc[labeled, "amount"], errors="coerce").to_numpy(dtype="float64") if "amount" in events.columns else np.full(len(y), np.nan)
    accounts = events.loc[labeled, "account_id"].astype(str).to_numpy()
    days = times // MS_PER_DAY

    def test_metrics(p: np.ndarray, cut: dict[str, float]) -> dict[str, Any]:
        return evaluate(y[test], p, cut, amounts=amounts[test], days=days[test], accounts=accounts[test], config=config)

    step = time.perf_counter()
    say("training baselines: logistic regression and random forest")
    baseline_p = _baselines(X, y, train, valid, test, config, _categorical_columns(design))
    timings["baselines"] = time.perf_counter() - step

    candidates = {"lightgbm": {**test_metrics(p_test, thresholds), "thresholds": thresholds}}
    for name, (p_val, p_tst) in baseline_p.items():
        cut = choose_thresholds(p_val, valid_days, config)
        candidates[name] = {**test_metrics(p_tst, cut), "thresholds": cut}
    lgbm_ap = candidates["lightgbm"].get("average_precision", float("nan"))
    beats = all(lgbm_ap > candidates[b].get("average_precision", float("inf")) for b in baseline_p)

    step = time.perf_counter()
    importance = global_importance(booster, X[test], design.names, config)
    timings["shap"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started

    metrics = {
        "test": candidates["lightgbm"],
        "validation": evaluate(y[valid], p_valid, thresholds, config=config),
        "best_iteration": int(booster.current_iteration()),
        "candidates": candidates,
        "lightgbm_beats_baselines": bool(beats),
        # The test period is the newest labeled one, never used to choose anything; the
        # validation figures are those of the period the trials and calibration used.
        "evaluation": "time split: train, then validation (trials, calibration, tiers), then test; "
                      f"periods {config.gap_days:g} days apart (the label delay)",
    }
    if not beats:
        say("LightGBM did NOT beat both baselines on average precision in the test period")

    def period(mask: np.ndarray) -> str:
        return f"{pd.Timestamp(times[mask].min(), unit='ms', tz='UTC')} – {pd.Timestamp(times[mask].max(), unit='ms', tz='UTC')}"

    return TrainingResult(
        booster=booster,
        feature_names=design.names,
        design=design,
        thresholds=thresholds,
        metrics=metrics,
        fingerprint=fingerprint(events.loc[labeled]),
        rows={"train": int(train.sum()), "validation": int(valid.sum()), "test": int(test.sum()),
              "labeled": int(labeled.sum()), "events": int(len(events))},
        periods={"train": period(train), "validation": period(valid), "test": period(test)},
        calibration=calibration,
        tuning=fitted.trials,
        importance=importance,
        timings={k: round(v, 2) for k, v in timings.items()},
        evaluation={
            "y_test": y[test],
            "p_test": {"lightgbm": p_test, **{name: p for name, (_, p) in baseline_p.items()}},
            "raw_p_test": 1.0 / (1.0 + np.exp(-raw_test)),
            "y_valid": y[valid],
            "p_valid": p_valid,
        },
    )


def _categorical_columns(design: Design) -> list[int]:
    return [design.names.index(name) for name in design.categorical]


@dataclass
class FittedChampion:
    booster: lightgbm.Booster
    calibration: dict[str, Any]
    thresholds: dict[str, float]
    trials: list[dict[str, Any]]
    p_valid: np.ndarray


def fit_champion(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, valid: np.ndarray, times: np.ndarray, design: Design,
    config: TrainingConfig, say: Progress | None = None,
) -> FittedChampion:
    """LightGBM over the trial budget on the `train` rows, early-stopped, chosen and
    calibrated on the `valid` rows, with tiers cut at the team's daily capacity there.
    The one recipe `train` and `backtest` share."""
    say = say or (lambda message: None)
    booster, trials = _tune_lightgbm(X, y, train, valid, design.names, design.categorical, config, say)
    raw_valid = booster.predict(X[valid], raw_score=True)
    calibration = fit_platt(raw_valid, y[valid])
    p_valid = calibrated_probability(calibration, raw_valid)
    valid_days = (times[valid].max() - times[valid].min()) / MS_PER_DAY
    thresholds = choose_thresholds(p_valid, valid_days, config)
    return FittedChampion(booster, calibration, thresholds, trials, p_valid)


def _tune_lightgbm(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, valid: np.ndarray, names: list[str], categorical: list[str],
    config: TrainingConfig, say: Progress,
) -> tuple[lightgbm.Booster, list[dict[str, Any]]]:
    """Early-stopped LightGBM over the first `config.trials` entries of the grid; the best
    validation average precision wins.

    When the training period has more than `lightgbm_max_rows` rows, LightGBM trains on a
    sample of them: every fraud row and legitimate rows drawn at random (seeded), each
    legitimate row weighted by the inverse of its sampling rate.
    """
    rows = np.flatnonzero(train)
    weight = None
    if len(rows) > config.lightgbm_max_rows:
        sampled = _sample_rows(rows, y, config.lightgbm_max_rows, config.seed)
        legit_rate = max(int((y[sampled] == 0).sum()), 1) / max(int((y[rows] == 0).sum()), 1)
        rows = sampled
        weight = np.where(y[rows] == 1, 1.0, 1.0 / legit_rate)
        say(f"training LightGBM on {len(rows):,} of {int(train.sum()):,} training rows (all fraud kept, "
            f"legitimate rows weighted ×{1 / legit_rate:.1f})")

    def fit(params: dict[str, Any], fit_rows: np.ndarray) -> lightgbm.Booster:
        # feature_pre_filter off: the grid changes min_data_in_leaf on the same features.
        data_params = {"feature_pre_filter": False, "max_bin": params.get("max_bin", 255)}
        train_set = lightgbm.Dataset(X[fit_rows], label=y[fit_rows], weight=weight, feature_name=names,
                                     categorical_feature=categorical or "auto", params=data_params)
        valid_set = lightgbm.Dataset(X[valid], label=y[valid], reference=train_set, params=data_params)
        return lightgbm.train(
            params,
            train_set,
            num_boost_round=config.max_rounds,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[lightgbm.early_stopping(config.early_stopping_rounds, verbose=False), lightgbm.log_evaluation(0)],
        )

    best: tuple[float, lightgbm.Booster] | None = None
    trials: list[dict[str, Any]] = []
    for i, change in enumerate(TUNING_GRID[: max(config.trials, 1)]):
        params = {**config.params, **change, "seed": config.seed}
        started = time.perf_counter()
        booster = fit(params, rows)
        ap = float(average_precision_score(y[valid], booster.predict(X[valid], num_iteration=booster.best_iteration)))
        trials.append({"params": change or {"default": True}, "validation_ap": round(ap, 4),
                       "rounds": int(booster.best_iteration or booster.current_iteration()),
                       "training_rows": int(len(rows)), "seconds": round(time.perf_counter() - started, 2)})
        say(f"LightGBM trial {i + 1}: {change or 'default parameters'} on {len(rows):,} rows → validation AP {ap:.4f} "
            f"({trials[-1]['rounds']} trees, {trials[-1]['seconds']:.1f} s)")
        if best is None or ap > best[0]:
            best = (ap, booster)
    assert best is not None
    booster = best[1]
    if booster.best_iteration:
        # Keep only the trees early stopping chose, so every reader predicts the same.
        booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    return booster, trials


def _baselines(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, valid: np.ndarray, test: np.ndarray, config: TrainingConfig,
    categorical: Sequence[int] = (),
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validation and test probabilities of logistic regression and random forest on the
    champion's features (`categorical`: the column indices holding category codes)."""
    rows = np.flatnonzero(train)
    if len(rows) > config.baseline_max_rows:
        rows = _sample_rows(rows, y, config.baseline_max_rows, config.seed)
    X_train = np.clip(X[rows], -1e6, 1e6)
    numeric = [j for j in range(X.shape[1]) if j not in categorical]
    # A linear model reads a category's code as a number only by accident: one column per level.
    linear_inputs = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                                  StandardScaler()), numeric),
        ("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
                                     OneHotEncoder(handle_unknown="ignore")), list(categorical)),
    ])
    models = {
        "logistic_regression": make_pipeline(
            linear_inputs,
            LogisticRegression(class_weight="balanced", max_iter=500),
        ),
        "random_forest": make_pipeline(
            SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
            RandomForestClassifier(
                n_estimators=80, min_samples_leaf=5, max_features="sqrt", class_weight="balanced_subsample",
                n_jobs=2, random_state=config.seed,
            ),
        ),
    }
    out = {}
    for name, model in models.items():
        model.fit(X_train, y[rows])
        out[name] = (
            model.predict_proba(np.clip(X[valid], -1e6, 1e6))[:, 1],
            model.predict_proba(np.clip(X[test], -1e6, 1e6))[:, 1],
        )
    return out


def _sample_rows(rows: np.ndarray, y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most `limit` of `rows`: every fraud row, legitimate rows drawn at random, in time order."""
    rng = np.random.default_rng(seed)
    fraud, legit = rows[y[rows] == 1], rows[y[rows] == 0]
    keep = max(limit - len(fraud), 1)
    return np.sort(np.r_[fraud, rng.choice(legit, min(keep, len(legit)), replace=False)])


def global_importance(
    booster: lightgbm.Booster, X: np.ndarray, names: list[str], config: TrainingConfig
) -> list[dict[str, Any]]:
    """Mean |SHAP value| (log-odds) per feature over a sample of test rows, largest first.

    Uses LightGBM's own TreeSHAP (`pred_contrib`): the same values as shap's
    TreeExplainer used for single explanations, computed in C++ threads.
    """
    rng = np.random.default_rng(config.seed)
    sample = X if len(X) <= config.shap_sample else X[rng.choice(len(X), config.shap_sample, replace=False)]
    values = booster.predict(sample.astype("float64"), pred_contrib=True)[:, : len(names)]
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs)
    return [{"feature": names[i], "mean_abs_shap": round(float(mean_abs[i]), 5)} for i in order]


def comparison_table(candidates: dict[str, dict[str, Any]]) -> str:
    """The test-period comparison as a fixed-width text table."""
    header = f"{'model':<22}{'ROC AUC':>9}{'avg prec':>10}{'P@high':>8}{'R@high':>8}{'F1@high':>9}{'top-k P':>9}{'savings':>14}"
    lines = [header, "-" * len(header)]
    for name, m in candidates.items():
        high = m.get("high_tier", {})
        lines.append(
            f"{name:<22}{m.get('roc_auc', float('nan')):>9.4f}{m.get('average_precision', float('nan')):>10.4f}"
            f"{high.get('precision', 0):>8.3f}{high.get('recall', 0):>8.3f}{high.get('f1', 0):>9.3f}"
            f"{m.get('top_k_accounts', {}).get('precision', float('nan')):>9.3f}"
            f"{m.get('savings', {}).get('expected_savings', float('nan')):>14,.0f}"
        )
    return "\n".join(lines)
