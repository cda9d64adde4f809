"""Work states beyond a decision: who a case is assigned to, cases snoozed until a time, and
round-robin assignment to the reviewers on shift.

A case is an account's undecided alerts; assigning or snoozing "the case" covers them all,
"the alert" only the one.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.roles import MANAGER, REVIEWER, user_has_role
from audit.services import audit_record
from triage.models import UNDECIDED_STATUSES, CaseComment, ReviewerShift, Score

SNOOZE_MAX_DAYS = 30


class WorkRefused(Exception):
    """The change cannot be made as asked; `field` names what to fix. `conflict` marks a case
    whose state forbids it (409) rather than bad input (400)."""

    def __init__(self, field: str, message: str, *, conflict: bool = False):
        super().__init__(message)
        self.field, self.conflict = field, conflict


def is_manager(user: Any) -> bool:
    return user_has_role(user, MANAGER)


def assignee_for(username: str) -> Any:
    """The active user with the reviewer role named `username` (WorkRefused otherwise)."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or not user_has_role(user, REVIEWER):
        raise WorkRefused("assignee", f"no active reviewer is named {username!r}")
    return user


def assigned_elsewhere(score: Score, user: Any) -> Any:
    """The user the case is assigned to when that is someone other than `user`, who is not a
    manager (managers may act on any case); else None."""
    if score.assigned_to_id and score.assigned_to_id != user.pk and not is_manager(user):
        return score.assigned_to
    return None


def _case_scores(transaction_id: int, *, whole_case: bool, statuses=UNDECIDED_STATUSES):
    """The alert, or it and its account's other alerts of `statuses`, locked in id order."""
    anchor = Score.objects.select_related("transaction").get(pk=transaction_id)
    scope = Q(pk=transaction_id)
    if whole_case:
        scope |= Q(transaction__account_id=anchor.transaction.account_id, review_status__in=statuses)
    locked = list(
        Score.objects.select_for_update(of=("self",)).filter(scope).order_by("pk")[: settings.RING_MAX_CASES + 1]
    )
    if len(locked) > settings.RING_MAX_CASES:
        raise WorkRefused("scope", f"this account has more than {settings.RING_MAX_CASES} undecided alerts; act on one alert")
    return anchor, locked


def case_assign(*, transaction_id: int, manager: Any, assignee: Any | None, whole_case: bool = True, note: str = "") -> list[int]:
    """A manager assigns (or, with `assignee` None, unassigns) a case. Returns the alerts changed.

    Only undecided alerts change hands; a reviewer's claim on one of them is released when it
    goes to someone else, so the new owner can take it.
    """
    now = timezone.now()
    with transaction.atomic():
        anchor, locked = _case_scores(transaction_id, whole_case=whole_case)
        changed = [s for s in locked if s.review_status in UNDECIDED_STATUSES]
        if not changed:
            raise WorkRefused("transaction_id", f"this case is already {anchor.review_status}; only undecided cases are assigned",
                              conflict=True)
        previous = sorted({s.assigned_to.get_username() for s in changed if s.assigned_to_id})
        for score in changed:
            score.assigned_to, score.assigned_at = assignee, now if assignee else None
            if assignee is None or (score.claimed_by_id and score.claimed_by_id != assignee.pk):
                score.claimed_by, score.claim_expires_at = None, None
        Score.objects.bulk_update(changed, ["assigned_to", "assigned_at", "claimed_by", "claim_expires_at"])
        ids = [s.pk for s in changed]
        audit_record(
            actor=manager, action="case_assigned" if assignee else "case_unassigned", object_type="account",
            object_id=anchor.transaction.account_id,
            detail={"assignee": assignee.get_username() if assignee else None, "previous": previous, "note": note,
                    "transaction_ids": ids},
        )
    return ids


def escalation_assign(score: Score, *, assignee: Any | None, now: datetime) -> None:
    """Escalating hands the case to `assignee` (a senior, a specialist) when one is named;
    without one it stays with whoever held it, for a manager to assign from the Escalated tab."""
    if assignee is not None:
        score.assigned_to, score.assigned_at = assignee, now


def case_snooze(*, transaction_id: int, reviewer: Any, until: datetime, note: str = "", whole_case: bool = True) -> list[int]:
    """Put an open case aside until `until`; it comes back open then. Returns the alerts snoozed.

    Only open alerts are snoozed (an escalated case waits for its assignee, not the clock).
    The reason, when given, joins the case's comments, so the next reader knows what it waits on.
    """
    now = timezone.now()
    if until <= now:
        raise WorkRefused("until", "must be in the future")
    if until > now + timedelta(days=SNOOZE_MAX_DAYS):
        raise WorkRefused("until", f"must be within {SNOOZE_MAX_DAYS} days")
    with transaction.atomic():
        anchor, locked = _case_scores(transaction_id, whole_case=whole_case, statuses=(Score.ReviewStatus.OPEN,))
        if anchor.review_status != Score.ReviewStatus.OPEN:
            raise WorkRefused("transaction_id", f"only open cases can be snoozed; this one is {anchor.review_status}",
                              conflict=True)
        for score in locked:
            holder = score.claimed_by if score.claimed_by_id and score.claim_expires_at and score.claim_expires_at > now else None
            if holder is not None and holder.pk != reviewer.pk:
                raise WorkRefused("transaction_id", f"{holder.get_username()} is working alert {score.pk} of this case",
                                  conflict=True)
            owner = assigned_elsewhere(score, reviewer)
            if owner is not None:
                raise WorkRefused("transaction_id", f"this case is assigned to {owner.get_username()}", conflict=True)
        for score in locked:
            score.review_status, score.snoozed_until = Score.ReviewStatus.SNOOZED, until
            score.claimed_by, score.claim_expires_at = None, None
        Score.objects.bulk_update(locked, ["review_status", "snoozed_until", "claimed_by", "claim_expires_at"])
        ids = [s.pk for s in locked]
        if note.strip():
            CaseComment.objects.create(
                transaction_id=transaction_id, author=reviewer,
                body=f"Snoozed until {until:%Y-%m-%d %H:%M} UTC: {note.strip()}",
            )
        audit_record(
            actor=reviewer, action="case_snoozed", object_type="account", object_id=anchor.transaction.account_id,
            detail={"until": until.isoformat(), "note": note, "transaction_ids": ids},
        )
    return ids


def case_wake(*, transaction_id: int, reviewer: Any, whole_case: bool = True) -> list[int]:
    """End a snooze now: the case is open again."""
    with transaction.atomic():
        anchor, locked = _case_scores(transaction_id, whole_case=whole_case, statuses=(Score.ReviewStatus.SNOOZED,))
        woken = [s for s in locked if s.review_status == Score.ReviewStatus.SNOOZED]
        if not woken:
            raise WorkRefused("transaction_id", f"this case is not snoozed; it is {anchor.review_status}", conflict=True)
        for score in woken:
            score.review_status, score.snoozed_until = Score.ReviewStatus.OPEN, None
        Score.objects.bulk_update(woken, ["review_status", "snoozed_until"])
        ids = [s.pk for s in woken]
        audit_record(actor=reviewer, action="case_woken", object_type="account", object_id=anchor.transaction.account_id,
                     detail={"transaction_ids": ids})
    return ids


def snoozed_wake(*, now: datetime | None = None) -> int:
    """Every snoozed case whose time has come is open again; returns how many. Run each minute."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Score.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(review_status=Score.ReviewStatus.SNOOZED, snoozed_until__lte=now)
            .order_by("pk").values_list("pk", flat=True)[:5000]
        )
        if not due:
            return 0
        Score.objects.filter(pk__in=due).update(review_status=Score.ReviewStatus.OPEN, snoozed_until=None)
        audit_record(actor=None, action="snooze_ended", object_type="transaction", object_id="",
                     detail={"transaction_ids": due})
    return len(due)


# --------------------------------------------------------------------------- shifts


def on_shift(user: Any) -> bool:
    return ReviewerShift.objects.filter(user=user, on_shift=True).exists()


def shift_set(*, user: Any, on_shift: bool) -> ReviewerShift:
    shift, _ = ReviewerShift.objects.get_or_create(user=user)
    if shift.on_shift != on_shift:
        shift.on_shift = on_shift
        shift.save(update_fields=["on_shift", "changed_at"])
        audit_record(actor=user, action="shift_started" if on_shift else "shift_ended", object_type="user",
                     object_id=user.get_username())
    return shift


def reviewers_with_load() -> list[dict[str, Any]]:
    """Every active reviewer: on shift or not, and how many undecided cases are assigned to them."""
    users = [u for u in get_user_model().objects.filter(is_active=True).order_by("username") if user_has_role(u, REVIEWER)]
    on = set(ReviewerShift.objects.filter(on_shift=True).values_list("user_id", flat=True))
    load = dict(
        Score.objects.filter(assigned_to__in=users, review_status__in=UNDECIDED_STATUSES)
        .values_list("assigned_to").annotate(n=Count("pk")).values_list("assigned_to", "n")
    )
    return [{"username": u.get_username(), "on_shift": u.pk in on, "assigned": load.get(u.pk, 0),
             "manager": is_manager(u)} for u in users]


def cases_auto_assign(*, now: datetime | None = None, limit: int = 200) -> int:
    """Round-robin: each unassigned open case of AUTO_ASSIGN_TIERS, costliest first, goes to the
    on-shift reviewer with the fewest undecided assigned alerts (ties: the one waiting longest
    since their last assignment). A case is an account: all its undecided unassigned alerts
    go together. Cases someone is working are left to them. Returns the cases assigned."""
    tiers = settings.AUTO_ASSIGN_TIERS
    if not tiers:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        shifts = list(ReviewerShift.objects.select_for_update().filter(on_shift=True, user__is_active=True)
                      .select_related("user"))
        shifts = [s for s in shifts if user_has_role(s.user, REVIEWER)]
        if not shifts:
            return 0
        load = dict(
            Score.objects.filter(assigned_to__in=[s.user for s in shifts], review_status__in=UNDECIDED_STATUSES)
            .values_list("assigned_to").annotate(n=Count("pk")).values_list("assigned_to", "n")
        )
        epoch = datetime.min.replace(tzinfo=now.tzinfo)
        accounts: list[str] = []
        for tier in [t for t in ("high", "medium", "low") if t in tiers]:  # highest tier first
            free = (
                Score.objects.filter(review_status=Score.ReviewStatus.OPEN, tier=tier, assigned_to__isnull=True)
                .filter(Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now))
                .order_by("-expected_loss", "transaction_id")
                .values_list("transaction__account_id", flat=True)[: limit * 5]
            )
            accounts += [a for a in dict.fromkeys(free) if a not in accounts]
        accounts = accounts[:limit]
        assigned = 0
        for account in accounts:
            shift = min(shifts, key=lambda s: (load.get(s.user_id, 0), s.last_assigned_at or epoch, s.user_id))
            taken = Score.objects.filter(
                transaction__account_id=account, review_status__in=UNDECIDED_STATUSES, assigned_to__isnull=True,
            ).update(assigned_to=shift.user, assigned_at=now)
            if not taken:
                continue
            load[shift.user_id] = load.get(shift.user_id, 0) + taken
            shift.last_assigned_at = now + timedelta(microseconds=assigned)  # keeps the turn order within one run
            assigned += 1
            audit_record(actor=None, action="case_assigned", object_type="account", object_id=account,
                         detail={"assignee": shift.user.get_username(), "how": "round_robin", "alerts": taken})
        ReviewerShift.objects.bulk_update(shifts, ["last_assigned_at"])
    return assigned
