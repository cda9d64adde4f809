"""Generated worlds as stored history and as /score request bodies."""
from __future__ import annotations

import math
from functools import lru_cache

import pandas as pd

from synthetic.generator import row_event


def api_events(frame: pd.DataFrame) -> list[dict]:
    """Rows of a generated world as /score events: ISO times, empty fields left out."""
    return [row_event(row) for row in frame.to_dict("records")]


def score_all(service, frame: pd.DataFrame) -> list[dict]:
    """POST the rows to /score in batches, in time order; the answers in the same order."""
    events = api_events(frame)
    results = []
    for start in range(0, len(events), 1000):
        response = service.post("/score", events[start : start + 1000], format="json")
        assert response.status_code == 200, response.content[:500]
        results.extend(response.json()["results"])
    return results


@lru_cache(maxsize=1)
def learning_world() -> pd.DataFrame:
    """Fraud in every stretch of time (train, validation, test, holdout) even at this small size."""
    from synthetic.generator import WorldConfig, generate_world

    return generate_world(WorldConfig(accounts=300, days=40, unlabeled_days=5, seed=11, fraud_prevalence=0.08))


@lru_cache(maxsize=1)
def drifting_world() -> pd.DataFrame:
    """Ten weeks, the drift scenario in the last four days. At this fraud rate the new pattern
    is about a third of the last days' events: the kind of shift the drift check must catch."""
    from synthetic.generator import WorldConfig, generate_world

    return generate_world(
        WorldConfig(accounts=300, days=70, unlabeled_days=4, seed=11, fraud_prevalence=0.15, drift_days=4)
    )


def stored_row_event(record: dict) -> dict:
    """A stored-frame row as the validated event the /score service receives."""
    event = {}
    for key, value in record.items():
        if key in ("is_fraud", "label_known_at", "scenario", "period"):
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if value == "" or value is pd.NaT:
            continue
        event[key] = value
    return event


def stored_small_world(rows: int = 3000) -> tuple[pd.DataFrame, pd.Timestamp]:
    from accounts.services import import_source_get_or_create
    from scoring.store.events import events_load
    from tests.support.factories import small_world

    world = small_world().head(rows)
    events_load(frame=world, client=import_source_get_or_create(name="history"))
    return world, world["timestamp"].iloc[rows - 600]
