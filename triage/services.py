"""Triage writes: reviewer decisions and their undo, claims, bulk decisions, comments."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import audit_record
from triage import workflow
from triage.dispositions import disposition_for
from triage.models import UNDECIDED_STATUSES, CaseComment, Decision, Score, Transaction
from webhooks.services import case_decided_notify

# What each verdict does to the case and to the event's label.
_VERDICT_EFFECT = {
    Decision.Verdict.CLEAR: (Score.ReviewStatus.CLEARED, False),
    Decision.Verdict.FLAG: (Score.ReviewStatus.FLAGGED, True),
    Decision.Verdict.ESCALATE: (Score.ReviewStatus.ESCALATED, None),
}


class DecisionConflict(Exception):
    """Someone else decided this case after the version the reviewer was looking at."""


class EscalationRefused(ValueError):
    """An escalation without what it needs; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def decision_record(
    *, transaction_id: int, reviewer: Any, verdict: str, note: str = "", expected_status: str | None = None,
    disposition: str | None = None, group: uuid.UUID | None = None, assignee: Any | None = None,
) -> Decision:
    """Store a reviewer's verdict; it becomes the event's label (flag = fraud, clear = legit).

    A clear or flag carries an active `disposition` code of its verdict (DispositionRefused
    otherwise, nothing written); an escalation carries none but needs a reason (`note`) and
    may name an `assignee`, whose case it becomes. A case assigned to someone else is decided
    only by them or a manager (DecisionConflict).

    `expected_status` is the review status the reviewer saw. If the case changed since, or
    another reviewer holds an unexpired claim on it, DecisionConflict is raised and nothing
    is written, so two reviewers deciding at once cannot silently overwrite each other.
    The decision keeps the case's and label's previous state so `decision_undo` can restore it.
    """
    if verdict not in _VERDICT_EFFECT:
        raise ValueError(f"unknown verdict {verdict!r}")
    review_status, label = _VERDICT_EFFECT[Decision.Verdict(verdict)]
    code = disposition_for(verdict=verdict, code=disposition)
    if verdict == Decision.Verdict.ESCALATE and not note.strip():
        raise EscalationRefused("note", "say why the case is escalated: a reason is required")
    now = timezone.now()
    with transaction.atomic():
        score = (
            Score.objects.select_for_update(of=("self",))
            .select_related("transaction", "claimed_by", "assigned_to")
            .get(transaction_id=transaction_id)
        )
        if expected_status is not None and score.review_status != expected_status:
            raise DecisionConflict(
                f"this case was already {score.review_status} by someone else; reload to see their decision"
            )
        holder = claim_holder(score, now=now)
        if holder is not None and holder.pk != reviewer.pk:
            raise DecisionConflict(
                f"{holder.get_username()} is working this case (claimed until "
                f"{timezone.localtime(score.claim_expires_at):%H:%M:%S}); pick another case"
            )
        owner = workflow.assigned_elsewhere(score, reviewer)
        if owner is not None:
            raise DecisionConflict(f"this case is assigned to {owner.get_username()}; a manager can reassign it")
        txn = score.transaction
        decision = Decision.objects.create(
            transaction_id=transaction_id,
            reviewer=reviewer,
            verdict=verdict,
            note=note,
            disposition=code,
            group=group,
            model_version_name=score.model_version_name,
            previous_status=score.review_status,
            previous_decided_at=score.decided_at,
            previous_is_fraud=txn.is_fraud,
            previous_label_known_at=txn.label_known_at,
            previous_label_source=txn.label_source,
            previous_assignee_id=score.assigned_to_id,
        )
        score.review_status = review_status
        score.decided_at = now
        score.claimed_by = None
        score.claim_expires_at = None
        score.snoozed_until = None
        if verdict == Decision.Verdict.ESCALATE:
            workflow.escalation_assign(score, assignee=assignee, now=now)
        score.save(update_fields=["review_status", "decided_at", "claimed_by", "claim_expires_at", "snoozed_until",
                                  "assigned_to", "assigned_at"])
        if label is not None:
            Transaction.objects.filter(pk=transaction_id).update(
                is_fraud=label, label_known_at=now, label_source="review"
            )
        audit_record(
            actor=reviewer,
            action="decision",
            object_type="transaction",
            object_id=str(transaction_id),
            detail={
                "verdict": verdict, "disposition": code.code if code else None, "note": note,
                "assignee": assignee.get_username() if assignee else None,
                "previous_status": decision.previous_status,
                "event_id": txn.event_id, "decision_id": decision.pk,
            },
        )
        transaction.on_commit(lambda: case_decided_notify(decision=decision))  # the sender's webhook
    return decision


class UndoRefused(Exception):
    """The decision cannot be taken back: window passed, someone decided later, or not yours."""


def decision_undo(*, transaction_id: int, reviewer: Any) -> Decision:
    """Take back the reviewer's latest decision on a case within UNDO_SECONDS.

    The case and its label go back to what they were before; the case is claimed for the
    reviewer again so they can decide afresh. The decision row stays (marked undone) and the
    undo is audited. Only the latest standing decision can be undone: a later decision wins.
    Decisions taken together (an account's case, a ring, a bulk) are taken back together:
    each alert of the group whose latest decision is still this one goes back as it was.
    """
    now = timezone.now()
    with transaction.atomic():
        Score.objects.select_for_update(of=("self",)).get(transaction_id=transaction_id)
        latest = _latest_standing(transaction_id)
        if latest is None:
            raise UndoRefused("there is no decision on this case to undo")
        if latest.reviewer_id != reviewer.pk:
            raise UndoRefused(f"the latest decision is {latest.reviewer.get_username()}'s, not yours")
        age = (now - latest.created_at).total_seconds()
        if age > settings.UNDO_SECONDS:
            raise UndoRefused(f"decisions can be undone for {settings.UNDO_SECONDS} s; this one is {age:.0f} s old")
        together = [latest]
        if latest.group is not None:
            others = Decision.objects.filter(group=latest.group, undone_at__isnull=True).exclude(pk=latest.pk).order_by("transaction_id")
            locked = set(Score.objects.select_for_update(of=("self",)).filter(
                pk__in=[d.transaction_id for d in others]).order_by("pk").values_list("pk", flat=True))
            together += [d for d in others if d.transaction_id in locked and _latest_standing(d.transaction_id) == d]
        for decision in together:
            _restore(decision, reviewer=reviewer, now=now, claim=decision.pk == latest.pk)
    return latest


def _latest_standing(transaction_id: int) -> Decision | None:
    return Decision.objects.filter(transaction_id=transaction_id, undone_at__isnull=True).order_by("-created_at", "-pk").first()


def _restore(decision: Decision, *, reviewer: Any, now: datetime, claim: bool) -> None:
    """Put one alert and its label back as they were before `decision`, which is marked undone."""
    decision.undone_at = now
    decision.save(update_fields=["undone_at"])
    score = Score.objects.get(pk=decision.transaction_id)
    # A snooze ends with the decision taken on the case: undone, the case is open.
    restored = decision.previous_status or Score.ReviewStatus.OPEN
    score.review_status = Score.ReviewStatus.OPEN if restored == Score.ReviewStatus.SNOOZED else restored
    score.decided_at = decision.previous_decided_at
    score.assigned_to_id = decision.previous_assignee_id
    score.assigned_at = score.assigned_at if decision.previous_assignee_id else None
    reopened = score.review_status == Score.ReviewStatus.OPEN
    score.claimed_by = reviewer if reopened and claim else None
    score.claim_expires_at = now + timedelta(seconds=settings.CLAIM_SECONDS) if reopened and claim else None
    score.save(update_fields=["review_status", "decided_at", "claimed_by", "claim_expires_at", "assigned_to", "assigned_at"])
    Transaction.objects.filter(pk=decision.transaction_id).update(
        is_fraud=decision.previous_is_fraud,
        label_known_at=decision.previous_label_known_at,
        label_source=decision.previous_label_source,
    )
    audit_record(
        actor=reviewer,
        action="decision_undone",
        object_type="transaction",
        object_id=str(decision.transaction_id),
        detail={"decision_id": decision.pk, "verdict": decision.verdict, "restored_status": score.review_status},
    )


def case_decision_record(
    *, transaction_id: int, reviewer: Any, verdict: str, note: str = "", expected_status: str | None = None,
    disposition: str | None = None, assignee: Any | None = None,
) -> list[Decision]:
    """Decide an account's whole case: this alert and every other undecided alert of its account.

    All or nothing: the alerts are locked in id order; this alert must still have the status
    the reviewer saw, and none may be held by another reviewer (DecisionConflict names the
    holder), else nothing is written. The decisions share a group, so one undo takes them back.
    """
    disposition_for(verdict=verdict, code=disposition)
    now = timezone.now()
    with transaction.atomic():
        anchor = Score.objects.select_related("transaction").get(transaction_id=transaction_id)
        account = anchor.transaction.account_id
        locked = list(
            Score.objects.select_for_update(of=("self",)).select_related("claimed_by")
            .filter(Q(transaction__account_id=account, review_status__in=UNDECIDED_STATUSES) | Q(pk=transaction_id))
            .order_by("pk")[: settings.RING_MAX_CASES + 1]
        )
        if len(locked) > settings.RING_MAX_CASES:
            raise DecisionConflict(f"account {account} has more than {settings.RING_MAX_CASES} undecided alerts; decide them one by one")
        for score in locked:
            holder = claim_holder(score, now=now)
            if holder is not None and holder.pk != reviewer.pk:
                raise DecisionConflict(
                    f"{holder.get_username()} is working alert {score.pk} of this account's case (claimed until "
                    f"{timezone.localtime(score.claim_expires_at):%H:%M:%S}); decide this alert alone or wait"
                )
        group = uuid.uuid4()
        decisions = [
            decision_record(
                transaction_id=score.pk, reviewer=reviewer, verdict=verdict, note=note, disposition=disposition, group=group,
                expected_status=expected_status if score.pk == transaction_id else score.review_status, assignee=assignee,
            )
            for score in locked
        ]
        audit_record(
            actor=reviewer, action="case_decision", object_type="account", object_id=account,
            detail={"verdict": verdict, "disposition": disposition, "note": note, "alert": transaction_id,
                    "transaction_ids": [d.transaction_id for d in decisions]},
        )
    return decisions


# --------------------------------------------------------------------------- claims


def claim_holder(score: Score, *, now: datetime | None = None) -> Any:
    """The user holding an unexpired claim on the case, or None."""
    now = now or timezone.now()
    if score.claimed_by_id and score.claim_expires_at and score.claim_expires_at > now:
        return score.claimed_by
    return None


class ClaimConflict(Exception):
    """Another reviewer holds the case."""


def _claim(score: Score, *, reviewer: Any, now: datetime, how: str) -> Score:
    previous = score.claimed_by.get_username() if score.claimed_by_id and score.claimed_by else ""
    score.claimed_by = reviewer
    score.claim_expires_at = now + timedelta(seconds=settings.CLAIM_SECONDS)
    score.save(update_fields=["claimed_by", "claim_expires_at"])
    detail = {"how": how, "expires_at": score.claim_expires_at.isoformat()}
    if previous and previous != reviewer.get_username():
        detail["took_over_expired_claim_of"] = previous
    audit_record(actor=reviewer, action="claim", object_type="transaction", object_id=str(score.pk), detail=detail)
    return score


def reviewer_claims_release(*, reviewer: Any, keep: int | None = None) -> int:
    """Drop the reviewer's other claims: a reviewer works one case at a time."""
    held = Score.objects.filter(claimed_by=reviewer, claim_expires_at__gt=timezone.now())
    if keep is not None:
        held = held.exclude(pk=keep)
    ids = list(held.values_list("pk", flat=True))
    if ids:
        Score.objects.filter(pk__in=ids, claimed_by=reviewer).update(claimed_by=None, claim_expires_at=None)
        for pk in ids:
            audit_record(actor=reviewer, action="claim_released", object_type="transaction", object_id=str(pk))
    return len(ids)


def claim_release(*, transaction_id: int, reviewer: Any) -> bool:
    """Give back the reviewer's claim on one case (no-op if they do not hold it)."""
    released = Score.objects.filter(pk=transaction_id, claimed_by=reviewer).update(claimed_by=None, claim_expires_at=None)
    if released:
        audit_record(actor=reviewer, action="claim_released", object_type="transaction", object_id=str(transaction_id))
    return bool(released)


def case_claim_next(
    *, reviewer: Any, tiers: Sequence[str], cases: QuerySet[Score], skip: int | None = None
) -> Score | None:
    """Claim the open case with the highest expected loss that nobody else holds.

    `skip` is the case the reviewer is leaving: its claim is released with the others, and
    it is not handed straight back (it stays in the queue for the next reviewer).

    Tiers are tried in the given order. Rows another reviewer is claiming at this very
    moment are skipped (SKIP LOCKED), so two reviewers pressing "Next" together get two
    different cases instead of waiting on, or both taking, the same one. `cases` carries the
    reviewer's filters. Returns None when nothing is left.
    """
    now = timezone.now()
    with transaction.atomic():
        reviewer_claims_release(reviewer=reviewer)
        free = cases.filter(review_status=Score.ReviewStatus.OPEN).filter(
            Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now)
        )
        if skip is not None:
            free = free.exclude(pk=skip)
        # The reviewer's own assigned cases first, then nobody's: a case assigned to someone
        # else waits for them.
        for mine in (free.filter(assigned_to=reviewer), free.filter(assigned_to__isnull=True)):
            for tier in tiers:
                score = (
                    mine.filter(tier=tier)
                    .select_for_update(skip_locked=True, of=("self",))
                    .select_related("claimed_by")
                    .order_by("-expected_loss", "transaction_id")
                    .first()
                )
                if score is not None:
                    return _claim(score, reviewer=reviewer, now=now, how="next")
    return None


def case_claim(*, transaction_id: int, reviewer: Any) -> Score:
    """Claim one case the reviewer opened; refuses if another reviewer holds it."""
    now = timezone.now()
    with transaction.atomic():
        score = Score.objects.select_for_update(of=("self",)).select_related("claimed_by", "assigned_to").get(
            transaction_id=transaction_id
        )
        holder = claim_holder(score, now=now)
        if holder is not None and holder.pk != reviewer.pk:
            raise ClaimConflict(
                f"{holder.get_username()} is working this case until {timezone.localtime(score.claim_expires_at):%H:%M:%S}"
            )
        if score.review_status != Score.ReviewStatus.OPEN:
            raise ClaimConflict(f"this case is already {score.review_status}")
        owner = workflow.assigned_elsewhere(score, reviewer)
        if owner is not None:
            raise ClaimConflict(f"this case is assigned to {owner.get_username()}; a manager can reassign it")
        reviewer_claims_release(reviewer=reviewer, keep=score.pk)
        return _claim(score, reviewer=reviewer, now=now, how="open")


# --------------------------------------------------------------------------- bulk


@dataclass(frozen=True)
class BulkConflict:
    transaction_id: int
    reason: str


class BulkRefused(Exception):
    """Some selected cases cannot be decided; nothing was written."""

    def __init__(self, conflicts: list[BulkConflict]):
        super().__init__(f"{len(conflicts)} of the selected cases cannot be decided")
        self.conflicts = conflicts


def decisions_bulk_record(
    *, transaction_ids: Sequence[int], reviewer: Any, verdict: str, note: str = "", disposition: str | None = None,
) -> list[Decision]:
    """Decide many open cases at once, all or nothing.

    Every case is locked first (in id order, so two bulk actions cannot deadlock) and
    checked: it must exist, still be open, and not be held by another reviewer. If any
    fails, BulkRefused lists each failing case and its reason and nothing is written.
    """
    ids = sorted(set(transaction_ids))
    disposition_for(verdict=verdict, code=disposition)  # refused before anything is locked
    now = timezone.now()
    with transaction.atomic():
        locked = {
            s.pk: s
            for s in Score.objects.select_for_update(of=("self",)).select_related("claimed_by").filter(pk__in=ids).order_by("pk")
        }
        conflicts = []
        for pk in ids:
            score = locked.get(pk)
            holder = claim_holder(score, now=now) if score else None
            if score is None:
                conflicts.append(BulkConflict(pk, "no such case"))
            elif score.review_status != Score.ReviewStatus.OPEN:
                conflicts.append(BulkConflict(pk, f"already {score.review_status}"))
            elif holder is not None and holder.pk != reviewer.pk:
                conflicts.append(BulkConflict(pk, f"{holder.get_username()} is working this case"))
        if conflicts:
            raise BulkRefused(conflicts)
        group = uuid.uuid4()
        decisions = [
            decision_record(transaction_id=pk, reviewer=reviewer, verdict=verdict, note=note, expected_status="open",
                            disposition=disposition, group=group)
            for pk in ids
        ]
        audit_record(
            actor=reviewer, action="bulk_decision", object_type="transaction", object_id="",
            detail={"verdict": verdict, "disposition": disposition, "note": note, "transaction_ids": ids},
        )
    return decisions


class RingRefused(Exception):
    """The group holds more undecided cases than one ring decision may decide."""


def ring_decision_record(
    *, accounts: Sequence[str], reviewer: Any, verdict: str, disposition: str | None, note: str = "",
) -> list[Decision]:
    """Decide every undecided (open or escalated) case of a group of linked accounts, all or nothing.

    The reviewer confirmed `accounts` (the network view lists them); each of their cases is
    locked in id order and checked as a bulk decision checks: if another reviewer holds
    one, BulkRefused lists it and nothing is written. Each event's label follows the
    verdict, so every account of the ring is labelled from its own events.
    """
    accounts = sorted(set(accounts))
    disposition_for(verdict=verdict, code=disposition)
    now = timezone.now()
    with transaction.atomic():
        locked = list(
            Score.objects.select_for_update(of=("self",)).select_related("claimed_by", "assigned_to")
            .filter(transaction__account_id__in=accounts, review_status__in=UNDECIDED_STATUSES)
            .order_by("pk")[: settings.RING_MAX_CASES + 1]
        )
        if len(locked) > settings.RING_MAX_CASES:
            raise RingRefused(f"these accounts have more than {settings.RING_MAX_CASES} undecided cases; decide them in the queue")
        conflicts = []
        for score in locked:
            holder = claim_holder(score, now=now)
            owner = workflow.assigned_elsewhere(score, reviewer)
            if holder is not None and holder.pk != reviewer.pk:
                conflicts.append(BulkConflict(score.pk, f"{holder.get_username()} is working this case"))
            elif owner is not None:
                conflicts.append(BulkConflict(score.pk, f"this case is assigned to {owner.get_username()}"))
        if conflicts:
            raise BulkRefused(conflicts)
        group = uuid.uuid4()
        decisions = [
            decision_record(transaction_id=score.pk, reviewer=reviewer, verdict=verdict, note=note,
                            expected_status=score.review_status, disposition=disposition, group=group)
            for score in locked
        ]
        audit_record(
            actor=reviewer, action="ring_decision", object_type="account", object_id=accounts[0] if accounts else "",
            detail={"verdict": verdict, "disposition": disposition, "note": note, "accounts": accounts,
                    "transaction_ids": [d.transaction_id for d in decisions]},
        )
    return decisions


# --------------------------------------------------------------------------- comments

COMMENT_MAX_CHARS = 5000


class CommentRefused(Exception):
    """A comment cannot be written as asked; `field` names what to fix."""

    def __init__(self, field: str, message: str, *, forbidden: bool = False):
        super().__init__(message)
        self.field, self.forbidden = field, forbidden


def _comment_text(body: str) -> str:
    text = (body or "").strip()
    if not text:
        raise CommentRefused("body", "must not be blank")
    if len(text) > COMMENT_MAX_CHARS:
        raise CommentRefused("body", f"must be at most {COMMENT_MAX_CHARS:,} characters")
    return text


def comment_add(*, transaction_id: int, author: Any, body: str) -> CaseComment:
    text = _comment_text(body)
    with transaction.atomic():
        comment = CaseComment.objects.create(transaction_id=transaction_id, author=author, body=text)
        audit_record(actor=author, action="comment", object_type="transaction", object_id=str(transaction_id),
                     detail={"comment": comment.pk})
    return comment


def comment_edit(*, comment_id: int, editor: Any, body: str) -> CaseComment:
    """Only its author rewords a comment; the earlier wording goes to its history."""
    text = _comment_text(body)
    with transaction.atomic():
        comment = CaseComment.objects.select_for_update().get(pk=comment_id)
        if comment.author_id != editor.pk:
            raise CommentRefused("comment", "only its author can edit a comment", forbidden=True)
        if text == comment.body:
            return comment  # nothing changed: no history entry, no audit entry
        now = timezone.now()
        comment.history = [*comment.history, {"body": comment.body, "until": now.isoformat()}]
        comment.body, comment.edited_at = text, now
        comment.save(update_fields=["body", "edited_at", "history"])
        audit_record(actor=editor, action="comment_edited", object_type="transaction",
                     object_id=str(comment.transaction_id), detail={"comment": comment.pk})
    return comment
