"""Writes for the dashboards: managers' ROI assumptions (audited)."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record
from insights.models import RoiAssumptions
from insights.selectors import roi_assumptions

ROI_FIELDS = ("cost_per_review", "friction_cost_per_false_positive", "value_of_unpriced_event")


def roi_assumptions_update(*, actor: Any, cost_per_review: float, friction_cost_per_false_positive: float,
                           value_of_unpriced_event: float) -> RoiAssumptions:
    """Store new assumptions as a new row (old rows are the history) and audit the change."""
    new = {
        "cost_per_review": cost_per_review,
        "friction_cost_per_false_positive": friction_cost_per_false_positive,
        "value_of_unpriced_event": value_of_unpriced_event,
    }
    with transaction.atomic():
        before = roi_assumptions()
        stored = RoiAssumptions.objects.create(updated_by=actor, **new)
        audit_record(
            actor=actor, action="roi_assumptions", object_type="roi_assumptions", object_id=str(stored.pk),
            detail={"before": {f: getattr(before, f) for f in ROI_FIELDS}, "after": new},
        )
    return stored
