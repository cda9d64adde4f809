"""Disposition codes: the managed list of reasons a clear or flag decision carries."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from audit.services import audit_record
from triage.models import Disposition

# The starting list: what fraud teams most often record. Managers edit it on the Reasons
# page; a list emptied by a database flush is refilled from it on first use.
STARTING_CODES: tuple[tuple[str, str, str], ...] = (
    ("flag", "stolen_card", "Stolen card or credentials"),
    ("flag", "account_takeover", "Account takeover"),
    ("flag", "first_party", "First-party fraud (the customer)"),
    ("flag", "ring", "Fraud ring (linked accounts)"),
    ("flag", "other_fraud", "Other fraud"),
    ("clear", "customer_confirmed", "Customer confirmed"),
    ("clear", "known_pattern", "Known legitimate pattern"),
    ("clear", "test_traffic", "Test traffic"),
    ("clear", "other_legitimate", "Other legitimate"),
)
VERDICTS_WITH_CODE = ("clear", "flag")


class DispositionRefused(Exception):
    """The code is missing, unknown, retired, or belongs to the other verdict."""

    field = "disposition"


def starting_codes_ensure(model: Any = Disposition) -> None:
    """Fill an empty list with the starting codes (`model` is the migration's historical one)."""
    if model.objects.exists():
        return
    for position, (verdict, code, label) in enumerate(STARTING_CODES):
        model.objects.get_or_create(code=code, defaults={"verdict": verdict, "label": label, "position": position})


def dispositions_list(*, include_inactive: bool = False) -> list[Disposition]:
    starting_codes_ensure()
    codes = Disposition.objects.all()
    return list(codes if include_inactive else codes.filter(active=True))


def disposition_for(*, verdict: str, code: str | None) -> Disposition | None:
    """The active code a decision of `verdict` carries; escalations carry none."""
    if verdict not in VERDICTS_WITH_CODE:
        if code:
            raise DispositionRefused("an escalation carries no disposition; give the reason in the note")
        return None
    choices = [d for d in dispositions_list() if d.verdict == verdict]
    words = ", ".join(d.code for d in choices)
    if not code:
        raise DispositionRefused(f"is required to {verdict}: one of {words}")
    chosen = next((d for d in choices if d.code == code), None)
    if chosen is None:
        other = Disposition.objects.filter(code=code).first()
        if other is not None and other.verdict != verdict:
            raise DispositionRefused(f"{code!r} is a reason to {other.verdict}, not to {verdict}: one of {words}")
        if other is not None:
            raise DispositionRefused(f"{code!r} is retired: one of {words}")
        raise DispositionRefused(f"{code!r} is not a disposition code: one of {words}")
    return chosen


def disposition_create(*, actor: Any, code: str, verdict: str, label: str) -> Disposition:
    with transaction.atomic():
        starting_codes_ensure()
        position = (Disposition.objects.filter(verdict=verdict).aggregate(m=Max("position"))["m"] or 0) + 1
        created = Disposition.objects.create(code=code, verdict=verdict, label=label, position=position)
        audit_record(actor=actor, action="disposition_created", object_type="disposition", object_id=code,
                     detail={"verdict": verdict, "label": label})
    return created


def disposition_update(*, actor: Any, code: str, **changes: Any) -> Disposition:
    """Reword, reorder, retire or bring back a code (its verdict never changes: decisions carry it)."""
    with transaction.atomic():
        item = Disposition.objects.select_for_update().get(code=code)
        before = {name: getattr(item, name) for name in changes}
        for name, value in changes.items():
            setattr(item, name, value)
        item.save(update_fields=list(changes) or None)
        audit_record(actor=actor, action="disposition_changed", object_type="disposition", object_id=code,
                     detail={"before": before, "after": changes})
    return item
