"""Account risk for stored data: profile in SQL, segment with `insights.segments`, store.

Profiles are aggregated in the database (one GROUP BY over events and scores) and only
per-account rows and distinct (account, device / IP) pairs come to Python, so this stays
practical at millions of events.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
from django.db import transaction
from django.db.models import Count, FloatField, Max, Min, Q, Sum
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from audit.services import audit_record
from insights.models import AccountRisk, SegmentSummary
from insights.segments import PROFILE_COLUMNS, Criteria, segment_accounts
from triage.models import Score, Transaction

STORED_FIELDS = (
    "events", "first_seen", "last_seen", "amount_sum", "max_score", "mean_score", "high_events",
    "confirmed_frauds", "failed_payments", "devices", "ips", "ring_links", "points", "segment", "offboard", "reasons",
)
BATCH = 5000


def stored_profiles(criteria: Criteria) -> pd.DataFrame:
    rows = (
        Transaction.objects.values("account_id")
        .annotate(
            events=Count("id"),
            first_seen=Min("timestamp"),
            last_seen=Max("timestamp"),
            amount_sum=Coalesce(Cast(Sum("amount"), FloatField()), 0.0),
            max_score=Max("score__risk_score"),
            mean_score=Cast(Sum("score__risk_score"), FloatField()) / Cast(Count("score"), FloatField()),
            high_events=Count("id", filter=Q(score__risk_score__gte=criteria.high_score)),
            confirmed_frauds=Count("id", filter=Q(is_fraud=True)),
            failed_payments=Count("id", filter=Q(payment_status__in=["failed", "declined"])),
            devices=Count("device_id", filter=~Q(device_id=""), distinct=True),
            ips=Count("ip_address", distinct=True),
        )
        .order_by()
    )
    frame = pd.DataFrame.from_records(list(rows), columns=list(PROFILE_COLUMNS))
    return frame


def stored_entity_pairs() -> pd.DataFrame:
    devices = Transaction.objects.exclude(device_id="").values_list("account_id", "device_id").distinct().order_by()
    ips = Transaction.objects.exclude(ip_address=None).values_list("account_id", "ip_address").distinct().order_by()
    frames = [
        pd.DataFrame.from_records(list(devices), columns=["account_id", "entity"]).assign(entity=lambda f: "device:" + f["entity"]),
        pd.DataFrame.from_records(list(ips), columns=["account_id", "entity"]).assign(entity=lambda f: "ip:" + f["entity"].astype(str)),
    ]
    return pd.concat(frames, ignore_index=True)


def _model_reasons(account_ids: list[str], criteria: Criteria) -> dict[str, list[str]]:
    """The model's top reasons on each account's riskiest explained event."""
    best: dict[str, tuple[int, list[str]]] = {}
    rows = Score.objects.filter(
        transaction__account_id__in=account_ids,
        explanation_status=Score.ExplanationStatus.READY,
        risk_score__gte=50,
    ).values_list("transaction__account_id", "risk_score", "explanation")
    for account_id, risk_score, explanation in rows:
        if account_id in best and best[account_id][0] >= risk_score:
            continue
        reasons = [r["text"] for r in (explanation or {}).get("reasons", []) if r.get("direction", "raises") == "raises"]
        best[account_id] = (risk_score, reasons[:3])
    return {account: reasons for account, (_, reasons) in best.items()}


def _reasons_payload(row: Any, model_reasons: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "factors": row.reasons,
        "offboard": row.offboard_reasons,
        "model": model_reasons.get(row.account_id, []),
    }


def account_risk_refresh(*, criteria: Criteria | None = None, progress: Callable[[str], None] | None = None) -> int:
    """Re-profile every account and store segment and reasons; managers' decisions are kept."""
    criteria = criteria or Criteria.from_settings()
    say = progress or (lambda message: None)
    say("profiling accounts")
    profiles = stored_profiles(criteria)
    if profiles.empty:
        return 0
    say(f"linking {len(profiles):,} accounts through shared devices and IPs")
    segmented = segment_accounts(profiles, stored_entity_pairs(), criteria)
    model_reasons = _model_reasons(segmented.loc[segmented["offboard"], "account_id"].tolist(), criteria)
    objects = []
    for row in segmented.itertuples(index=False):
        objects.append(AccountRisk(
            account_id=row.account_id,
            events=int(row.events),
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            amount_sum=float(row.amount_sum),
            max_score=None if pd.isna(row.max_score) else int(row.max_score),
            mean_score=None if pd.isna(row.mean_score) else float(row.mean_score),
            high_events=int(row.high_events),
            confirmed_frauds=int(row.confirmed_frauds),
            failed_payments=int(row.failed_payments),
            devices=int(row.devices),
            ips=int(row.ips),
            ring_links=int(row.ring_links),
            points=int(row.points),
            segment=row.segment,
            offboard=bool(row.offboard),
            reasons=_reasons_payload(row, model_reasons),
        ))
    say(f"storing {len(objects):,} account profiles")
    for start in range(0, len(objects), BATCH):
        with transaction.atomic():
            AccountRisk.objects.bulk_create(
                objects[start : start + BATCH], update_conflicts=True, unique_fields=["account_id"],
                update_fields=list(STORED_FIELDS) + ["refreshed_at"],
            )
    segment_summary_store()
    return len(objects)


def segment_summary_store() -> None:
    """Recompute and store each segment's profile (after the accounts changed)."""
    from insights.selectors import segment_stats

    stats = segment_stats()
    with transaction.atomic():
        SegmentSummary.objects.exclude(segment__in=list(stats)).delete()
        for segment, values in stats.items():
            SegmentSummary.objects.update_or_create(segment=segment, defaults={"accounts": values["accounts"], "stats": values})


class UnknownAccount(Exception):
    pass


def account_decision_record(*, account_id: str, decision: str, actor: Any, note: str = "") -> AccountRisk:
    """A manager off-boards or keeps an account; the previous decision is in the audit log."""
    if decision not in (AccountRisk.Decision.OFFBOARDED, AccountRisk.Decision.KEPT):
        raise ValueError(f"unknown decision {decision!r}")
    with transaction.atomic():
        account = AccountRisk.objects.select_for_update().filter(account_id=account_id).first()
        if account is None:
            raise UnknownAccount(account_id)
        previous = account.decision
        account.decision = decision
        account.decided_by = actor
        account.decided_at = timezone.now()
        account.save(update_fields=["decision", "decided_by", "decided_at"])
        audit_record(
            actor=actor, action=f"account_{decision}", object_type="account", object_id=account_id[:64],
            detail={"previous": previous, "note": note, "segment": account.segment, "reasons": account.reasons.get("offboard", [])},
        )
    return account
