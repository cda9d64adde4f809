"""Live scoring reads entity context from PostgreSQL and gets the batch path's values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.features import FEATURE_NAMES, batch_features
from tests.support.factories import small_world
from tests.support.worlds import stored_row_event

STORED, NEW = 2500, 150


@pytest.mark.django_db
def test_live_features_from_the_database_equal_batch_features():
    from accounts.services import import_source_get_or_create
    from scoring.services import _features_for
    from scoring.store.events import events_load

    frame = small_world().head(STORED + NEW).reset_index(drop=True)
    events_load(frame=frame.head(STORED), client=import_source_get_or_create(name="history"))
    incoming = [stored_row_event(r) for r in frame.tail(NEW).to_dict("records")]

    rows, _ = _features_for(import_source_get_or_create(name="history"), incoming)
    online = pd.DataFrame(rows)[list(FEATURE_NAMES)]
    unlabeled_tail = frame.assign(is_fraud=frame["is_fraud"].astype("float64"))
    unlabeled_tail.loc[STORED:, "is_fraud"] = np.nan  # new events arrive without labels
    batch = batch_features(unlabeled_tail).tail(NEW).reset_index(drop=True)

    linked = ["accounts_on_device_30d", "accounts_on_ip_30d", "ring_size_30d", "merchant_fraud_rate_30d"]
    assert batch[linked].notna().any().all(), "the sample should exercise every linked-entity feature"
    for name in FEATURE_NAMES:
        a, b = batch[name].to_numpy(), online[name].to_numpy(dtype="float64")
        assert (np.isnan(a) == np.isnan(b)).all(), f"{name}: NaN pattern differs"
        mask = ~np.isnan(a)
        assert np.allclose(a[mask], b[mask], rtol=1e-6, atol=1e-6), (name, a[mask][:5], b[mask][:5])
