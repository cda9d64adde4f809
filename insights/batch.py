"""Off-boarding for a batch of events that may be new and unlabeled: score them with the
champion (batch features, the same definitions as live scoring), then profile, link and
segment the accounts with the rules the dashboard uses."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from insights.segments import Criteria, entity_pairs_from_events, segment_accounts, segment_summary
from ml import tiers
from ml.features import batch_features
from scoring.registry import LoadedModel

TOP_FACTORS = 3


@dataclass
class BatchReport:
    accounts: pd.DataFrame  # one row per account: profile, segment, offboard, reasons, model_reasons
    summary: pd.DataFrame  # one row per segment
    events: int
    labeled: int


def labels_known_at_end(events: pd.DataFrame) -> pd.Series:
    """Labels as they were known when the batch ends: a label known later counts as unknown."""
    label = pd.to_numeric(events.get("is_fraud"), errors="coerce") if "is_fraud" in events else pd.Series(np.nan, index=events.index)
    if "label_known_at" in events:
        known_at = pd.to_datetime(events["label_known_at"], utc=True)
        label = label.where(known_at.isna() | (known_at <= events["timestamp"].max()))
    return label.astype("float64")


def score_batch(events: pd.DataFrame, model: LoadedModel) -> tuple[np.ndarray, pd.DataFrame]:
    """Risk scores (0–100) for every event, and the feature matrix they came from."""
    features = model.design.with_inputs(batch_features(events), events)
    matrix = features[model.feature_names].to_numpy(dtype="float64")
    probability = model.predict(matrix)
    return tiers.risk_scores(probability, model.thresholds["medium"], model.thresholds["high"]), features


def _model_reasons(model: LoadedModel, features: pd.DataFrame) -> list[list[str]]:
    """Plain-words top features raising risk, from LightGBM's own per-row contributions."""
    if features.empty:
        return []
    contributions = model.booster.predict(model.design.fill(features[model.feature_names].to_numpy(dtype="float64")),
                                          pred_contrib=True)
    names = model.feature_names
    out = []
    for row, values in zip(contributions, features[names].to_numpy(dtype="float64")):
        top = [i for i in np.argsort(-row[:-1])[:TOP_FACTORS] if row[i] > 0]
        out.append([model.design.describe(names[i], None if np.isnan(values[i]) else float(values[i])) for i in top])
    return out


def offboarding_batch(*, events: pd.DataFrame, model: LoadedModel, criteria: Criteria, use_labels: bool = True) -> BatchReport:
    events = events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    events["is_fraud"] = labels_known_at_end(events) if use_labels else np.nan
    scores, features = score_batch(events, model)
    events["risk_score"] = scores
    from insights.segments import profiles_from_events

    profiles = profiles_from_events(events, criteria)
    segmented = segment_accounts(profiles, entity_pairs_from_events(events), criteria)
    # The model's reasons on each off-boarded account's riskiest event.
    flagged = segmented.loc[segmented["offboard"], "account_id"]
    riskiest = events[events["account_id"].astype(str).isin(flagged)].sort_values("risk_score").groupby("account_id").tail(1)
    reasons = dict(zip(riskiest["account_id"].astype(str), _model_reasons(model, features.loc[riskiest.index])))
    segmented["model_reasons"] = segmented["account_id"].map(lambda a: reasons.get(a, []))
    return BatchReport(
        accounts=segmented,
        summary=segment_summary(segmented),
        events=len(events),
        labeled=int(events["is_fraud"].notna().sum()),
    )
