"""A batch request's features come from the vectorised path and equal the per-event path."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.features import FEATURE_NAMES
from tests.support.factories import small_world
from tests.support.worlds import stored_row_event
from triage.models import Score

pytestmark = pytest.mark.django_db
STORED, NEW = 2500, 120


def _history_and_batch():
    from accounts.services import import_source_get_or_create
    from scoring.store.events import events_load

    frame = small_world().head(STORED + NEW).reset_index(drop=True)
    events_load(frame=frame.head(STORED), client=import_source_get_or_create(name="history"))
    return [stored_row_event(r) for r in frame.tail(NEW).to_dict("records")]


def _as_json(event: dict) -> dict:
    return json.loads(json.dumps(event, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else float(v)))


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for name in FEATURE_NAMES:
        x, y = a[name].to_numpy(dtype="float64"), b[name].to_numpy(dtype="float64")
        assert (np.isnan(x) == np.isnan(y)).all(), f"{name}: NaN pattern differs"
        mask = ~np.isnan(x)
        assert np.allclose(x[mask], y[mask], rtol=1e-9, atol=1e-9), (name, x[mask][:5], y[mask][:5])


def test_vectorised_and_per_event_paths_give_the_same_features(api_client_and_key):
    from scoring.selectors import scoring_rows_frame
    from scoring.services import _batch_features_for, _features_for

    incoming = _history_and_batch()
    client = api_client_and_key[0]
    assert _batch_features_for(incoming, scoring_rows_frame(incoming)) is not None, "the batch path must answer"
    per_event, _ = _features_for(client, incoming, vectorised=False)
    vectorised, _ = _features_for(client, incoming, vectorised=True)
    _assert_same(pd.DataFrame(vectorised), pd.DataFrame(per_event))
    linked = ["accounts_on_device_30d", "ring_size_30d", "merchant_fraud_rate_30d", "merchant_fraud_rate_learned_7d",
              "device_fraud_rate_learned_7d", "hours_since_prev_event"]
    assert pd.DataFrame(per_event)[linked].notna().any().all(), "the sample should exercise history and entities"


def test_paths_agree_when_label_times_were_not_recorded(api_client_and_key):
    """Labels with no recorded time count from the default delay on: the database's count
    (single events) and the batch's count (vectorised) must apply it alike."""
    from scoring.services import _features_for
    from triage.models import Transaction

    incoming = _history_and_batch()
    labeled = Transaction.objects.filter(is_fraud__isnull=False).order_by("id")
    Transaction.objects.filter(pk__in=list(labeled.values_list("pk", flat=True)[::2])).update(label_known_at=None)
    assert Transaction.objects.filter(is_fraud__isnull=False, label_known_at__isnull=True).exists()
    client = api_client_and_key[0]
    per_event, _ = _features_for(client, incoming, vectorised=False)
    vectorised, _ = _features_for(client, incoming, vectorised=True)
    _assert_same(pd.DataFrame(vectorised), pd.DataFrame(per_event))
    assert pd.DataFrame(per_event)[["merchant_fraud_rate_30d", "merchant_fraud_rate_learned_7d"]].notna().any().all()


def test_a_batch_posted_to_score_stores_the_per_event_features(service, api_client_and_key):
    from scoring.services import _features_for
    from scoring.validation import validate_event

    bodies = [_as_json(e) for e in _history_and_batch()]
    clean = [validate_event(body)[0] for body in bodies]
    expected, _ = _features_for(api_client_and_key[0], clean, vectorised=False)

    response = service.post("/score", bodies, format="json")
    assert response.status_code == 200, response.content
    stored = {s.transaction.event_id: s.features for s in Score.objects.select_related("transaction")}
    got = pd.DataFrame([stored[body["event_id"]] for body in bodies]).astype("float64")  # null -> NaN
    _assert_same(got, pd.DataFrame(expected))


def test_a_batch_out_of_time_order_answers_as_sent(api_client_and_key):
    """An earlier-dated event sent later must not reach features of events sent before it."""
    from scoring.services import _features_for

    incoming = _history_and_batch()
    shuffled = incoming[::-1]
    default, _ = _features_for(api_client_and_key[0], shuffled)
    per_event, _ = _features_for(api_client_and_key[0], shuffled, vectorised=False)
    _assert_same(pd.DataFrame(default), pd.DataFrame(per_event))
