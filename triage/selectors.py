"""Triage reads: the queue with its filters and counts, cases, account history, linked accounts, audit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from itertools import takewhile
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Lag
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiClient
from rules.models import EntityList
from triage.models import AuditEntry, Decision, Score, Tier, Transaction
from triage.services import claim_holder

TIER_ORDER = (Tier.HIGH.value, Tier.MEDIUM.value, Tier.LOW.value)
FAILED_STATUSES = ("failed", "declined")

QUEUE_FIELDS = (
    "transaction_id", "transaction__event_id", "transaction__account_id", "transaction__timestamp",
    "transaction__event_type", "transaction__amount", "transaction__currency", "probability", "risk_score",
    "tier", "expected_loss", "model_version_name", "review_status", "explanation_status", "scored_at",
    "claimed_by__username", "claim_expires_at",
)


@dataclass(frozen=True)
class QueueFilters:
    """What a reviewer narrowed the queue to. Empty fields do not filter."""

    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    event_type: str = ""
    account: str = ""
    search: str = ""


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def queue_cases(*, filters: QueueFilters) -> QuerySet[Score]:
    """Scores matching the filters (any status); callers add status, tier and order."""
    cases = Score.objects.all()
    if filters.date_from:
        cases = cases.filter(transaction__timestamp__gte=_day_start(filters.date_from))
    if filters.date_to:  # inclusive: the whole last day counts
        cases = cases.filter(transaction__timestamp__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.amount_min is not None:
        cases = cases.filter(transaction__amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        cases = cases.filter(transaction__amount__lte=filters.amount_max)
    if filters.event_type:
        cases = cases.filter(transaction__event_type=filters.event_type)
    if filters.account:
        cases = cases.filter(transaction__account_id=filters.account)
    if filters.search:
        cases = cases.filter(Q(transaction__event_id=filters.search) | Q(transaction__account_id=filters.search))
    return cases


def _open(cases: QuerySet[Score]) -> QuerySet[Score]:
    return cases.filter(review_status=Score.ReviewStatus.OPEN)


def queue_counts(*, cap: int | None = None, filters: QueueFilters | None = None) -> tuple[dict[str, int], list[str]]:
    """Open cases per tier (and escalated ones) exact up to `cap`; also the tiers with more.
    With `filters` that narrow anything, the cases matching them: the tabs count what each
    tab would list ("High 125" over "Showing 35 high-tier cases" read as a contradiction).

    Counting stops at the cap so a tier with millions of open low-risk events costs a short
    index walk, not a full count; unfiltered, the three tiers are counted in one round trip.
    """
    cap = cap or settings.QUEUE_COUNT_CAP
    if filters is not None and filters != QueueFilters():
        matching = queue_cases(filters=filters).order_by()
        found = {tier: _open(matching).filter(tier=tier)[: cap + 1].count() for tier in TIER_ORDER}
        found["escalated"] = matching.filter(review_status=Score.ReviewStatus.ESCALATED)[: cap + 1].count()
        return {name: min(n, cap) for name, n in found.items()}, [name for name, n in found.items() if n > cap]
    table = connection.ops.quote_name(Score._meta.db_table)
    capped_count = f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE review_status = %s AND tier = %s LIMIT %s) t)"
    sql = "SELECT " + ", ".join([capped_count] * len(TIER_ORDER))
    params: list[Any] = []
    for tier in TIER_ORDER:
        params += [Score.ReviewStatus.OPEN, tier, cap + 1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    counts = {tier: min(n, cap) for tier, n in zip(TIER_ORDER, row)}
    capped = [tier for tier, n in zip(TIER_ORDER, row) if n > cap]
    # Escalated cases of every tier: few, and they must never drop out of sight.
    escalated = Score.objects.filter(review_status=Score.ReviewStatus.ESCALATED).order_by()[: cap + 1].count()
    counts["escalated"] = min(escalated, cap)
    if escalated > cap:
        capped.append("escalated")
    return counts, capped


def queue_new_count(*, filters: QueueFilters, since: datetime, tier: str | None = None, status: str = "open") -> int:
    """Cases of the list being looked at (a tier's open ones, or the escalated ones) scored
    after `since`, for the "new cases arrived" notice; capped. Counting every tier while
    highlighting one tier's rows announced cases the reviewer could not find."""
    cases = queue_cases(filters=filters).filter(scored_at__gt=since).order_by()
    if status == Score.ReviewStatus.ESCALATED:
        cases = cases.filter(review_status=Score.ReviewStatus.ESCALATED)
    else:
        cases = _open(cases)
        if tier:
            cases = cases.filter(tier=tier)
    return cases[: settings.QUEUE_COUNT_CAP].count()


def oldest_open_high_case() -> dict[str, Any] | None:
    """The open high-tier case whose event happened first, with when it was scored.

    Ordered by the event's own time, not by when it was scored: events that arrive late (a
    replay, a backfill) are as old as they are, and that is how long the risk has stood.
    """
    open_high = Score.objects.filter(review_status=Score.ReviewStatus.OPEN, tier=Tier.HIGH)
    first = (
        open_high.order_by("transaction__timestamp", "transaction_id")
        .values("transaction_id", "transaction__timestamp", "scored_at").first()
    )
    if first is None:
        return None
    return {
        "transaction_id": first["transaction_id"], "event_time": first["transaction__timestamp"],
        "scored_at": first["scored_at"], "open_high_cases": open_high.count(),
    }


def queue_list(
    *, tier: str, filters: QueueFilters | None = None, limit: int = 50, offset: int = 0, since: datetime | None = None,
    status: str = "open",
) -> list[dict[str, Any]]:
    """Open cases of one tier (or, with status "escalated", escalated cases of every tier),
    highest expected loss first, with who holds each one."""
    cases = queue_cases(filters=filters or QueueFilters())
    if status == Score.ReviewStatus.ESCALATED:
        cases = cases.filter(review_status=Score.ReviewStatus.ESCALATED)
    else:
        cases = _open(cases).filter(tier=tier)
    rows = (
        cases
        .order_by("-expected_loss", "transaction_id")
        .values(*QUEUE_FIELDS)[offset : offset + limit]
    )
    now = timezone.now()
    return [_queue_item(r, now=now, since=since) for r in rows]


def queue_item(*, transaction_id: int) -> dict[str, Any] | None:
    """One case in the queue's shape (any status)."""
    row = Score.objects.filter(pk=transaction_id).values(*QUEUE_FIELDS).first()
    return _queue_item(row, now=timezone.now(), since=None) if row else None


def _queue_item(r: dict[str, Any], *, now: datetime, since: datetime | None) -> dict[str, Any]:
    held = bool(r["claimed_by__username"] and r["claim_expires_at"] and r["claim_expires_at"] > now)
    return {
        "transaction_id": r["transaction_id"],
        "event_id": r["transaction__event_id"],
        "account_id": r["transaction__account_id"],
        "timestamp": r["transaction__timestamp"],
        "event_type": r["transaction__event_type"],
        "amount": _plain(r["transaction__amount"]),
        "currency": r["transaction__currency"],
        "probability": r["probability"],
        "risk_score": r["risk_score"],
        "tier": r["tier"],
        "expected_loss": r["expected_loss"],
        "model_version": r["model_version_name"],
        "review_status": r["review_status"],
        "explanation_status": r["explanation_status"],
        "scored_at": r["scored_at"],
        "claimed_by": r["claimed_by__username"] if held else None,
        "claim_expires_at": r["claim_expires_at"] if held else None,
        "is_new": bool(since and r["scored_at"] > since),
    }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


# --------------------------------------------------------------------------- one case

EVENT_FIELDS = (
    "event_id", "account_id", "timestamp", "event_type", "amount", "currency", "payment_status", "device_id",
    "ip_address", "latitude", "longitude", "country", "session_duration", "merchant_id", "category",
    "account_created_at", "attributes",
)


def case_get(*, transaction_id: int) -> Score | None:
    return (
        Score.objects.select_related("transaction", "transaction__client", "claimed_by")
        .filter(transaction_id=transaction_id)
        .first()
    )


def case_detail(*, score: Score) -> dict[str, Any]:
    """Everything about one case: the event, its score and explanation, who holds it, its decisions."""
    txn = score.transaction
    holder = claim_holder(score)
    decisions = [
        {
            "id": d.pk,
            "verdict": d.verdict,
            "note": d.note,
            "reviewer": d.reviewer.get_username(),
            "model_version": d.model_version_name,
            "created_at": d.created_at,
            "undone_at": d.undone_at,
        }
        for d in Decision.objects.filter(transaction=txn).select_related("reviewer").order_by("-created_at", "-pk")
    ]
    return {
        "transaction_id": txn.pk,
        "client": txn.client.name,
        "event": {name: _plain(getattr(txn, name)) for name in EVENT_FIELDS},
        "received_at": txn.received_at,
        "label": {"is_fraud": txn.is_fraud, "source": txn.label_source, "known_at": txn.label_known_at},
        "score": {
            "probability": score.probability,
            "risk_score": score.risk_score,
            "tier": score.tier,
            "expected_loss": score.expected_loss,
            "model_version": score.model_version_name,
            "scored_at": score.scored_at,
        },
        "explanation_status": score.explanation_status,
        "explanation": score.explanation,
        "rules": score.rules,
        "review_status": score.review_status,
        "decided_at": score.decided_at,
        "claimed_by": holder.get_username() if holder else None,
        "claim_expires_at": score.claim_expires_at if holder else None,
        "decisions": decisions,
        "undo_seconds": settings.UNDO_SECONDS,
    }


# --------------------------------------------------------------------------- account history

HISTORY_LIMIT = 200


def _account_events(txn: Transaction) -> QuerySet[Transaction]:
    # The whole record: an account's events from every client of this deployment (imported
    # history with its chargebacks included), as the features, labels and off-boarding see
    # it; read per client, a case hid fraud confirmed elsewhere and was cleared as unknown.
    return Transaction.objects.filter(account_id=txn.account_id)


def account_history(*, txn: Transaction, limit: int = HISTORY_LIMIT) -> dict[str, Any]:
    """The account's latest events (oldest first) with score, failed payments and device changes,
    its earlier decisions, and a risk summary over its whole history."""
    events = _account_events(txn)
    rows = list(
        events.order_by("-timestamp", "-pk").values(
            "pk", "event_id", "timestamp", "event_type", "amount", "currency", "payment_status", "device_id",
            "ip_address", "country", "is_fraud", "label_source", "score__risk_score", "score__tier",
            "score__review_status", "client__name",
        )[:limit]
    )
    rows.reverse()
    timeline, previous_device = [], None
    for r in rows:
        device = r["device_id"] or None
        timeline.append(
            {
                "transaction_id": r["pk"],
                "event_id": r["event_id"],
                "timestamp": r["timestamp"],
                "event_type": r["event_type"],
                "amount": _plain(r["amount"]),
                "currency": r["currency"],
                "payment_failed": r["payment_status"] in FAILED_STATUSES,
                "device_id": r["device_id"],
                "device_changed": bool(device and previous_device and device != previous_device),
                "country": r["country"],
                "is_fraud": r["is_fraud"],
                "label_source": r["label_source"],
                "client": r["client__name"],
                "risk_score": r["score__risk_score"],
                "tier": r["score__tier"],
                "review_status": r["score__review_status"],
                "is_this_case": r["pk"] == txn.pk,
            }
        )
        previous_device = device or previous_device
    summary = events.aggregate(
        events=Count("pk"),
        first_seen=Min("timestamp"),
        last_seen=Max("timestamp"),
        total_amount=Sum("amount"),
        failed_payments=Count("pk", filter=Q(payment_status__in=FAILED_STATUSES)),
        devices=Count("device_id", distinct=True, filter=~Q(device_id="")),
        ip_addresses=Count("ip_address", distinct=True),
        countries=Count("country", distinct=True, filter=~Q(country="")),
        known_fraud=Count("pk", filter=Q(is_fraud=True)),
        known_legitimate=Count("pk", filter=Q(is_fraud=False)),
        mean_risk_score=Avg("score__risk_score"),
        max_risk_score=Max("score__risk_score"),
        high_tier_events=Count("pk", filter=Q(score__tier=Tier.HIGH)),
    )
    summary["total_amount"] = _plain(summary["total_amount"])
    summary["state"] = _state(summary["known_fraud"], summary["known_legitimate"])
    decisions = [
        {
            "transaction_id": d.transaction_id,
            "event_id": d.transaction.event_id,
            "verdict": d.verdict,
            "note": d.note,
            "reviewer": d.reviewer.get_username(),
            "created_at": d.created_at,
            "undone": d.undone_at is not None,
        }
        for d in Decision.objects.filter(transaction__account_id=txn.account_id)
        .select_related("transaction", "reviewer")
        .order_by("-created_at")[:20]
    ]
    return {"account_id": txn.account_id, "events": timeline, "shown": len(timeline), "summary": summary, "decisions": decisions}


def _state(fraud: int, legitimate: int) -> str:
    """Known state of an account from its labels: any fraud wins, else any legitimate label."""
    if fraud:
        return "fraud"
    if legitimate:
        return "cleared"
    return "unknown"


# --------------------------------------------------------------------------- linked accounts

# Shared devices and IPs say more about rings than a shared merchant, so they are kept first
# when the node budget runs out, and fewer merchants are followed: a busy merchant has
# thousands of customers, which costs time and says little.
LINK_KINDS = (("device", "device_id", 8), ("ip", "ip_address", 8), ("merchant", "merchant_id", 3))


def account_network(*, txn: Transaction) -> dict[str, Any]:
    """Accounts sharing a device, IP address or merchant with this account in the last NETWORK_DAYS.

    Nodes are accounts and the shared entities (a bipartite graph: account — device — account),
    at most NETWORK_MAX_NODES of them; `truncated` says when the budget cut neighbours off.
    Each account carries its known state (fraud / cleared / unknown) and its latest case.
    """
    since = txn.timestamp - timedelta(days=settings.NETWORK_DAYS)
    recent = Transaction.objects.filter(timestamp__gte=since)  # every client's events, as the whole record
    own = recent.filter(account_id=txn.account_id)
    budget = max(settings.NETWORK_MAX_NODES - 1, 1)
    nodes: dict[str, dict[str, Any]] = {}
    links: list[dict[str, str]] = []
    truncated = False
    center = f"account:{txn.account_id}"
    nodes[center] = {"id": center, "kind": "account", "label": txn.account_id, "center": True}
    for kind, field, entities_cap in LINK_KINDS:
        present = Q(**{f"{field}__isnull": False})
        if field != "ip_address":  # an IP column holds NULL, never ""
            present &= ~Q(**{field: ""})
        values = list(own.filter(present).values_list(field, flat=True).order_by(field).distinct()[: entities_cap + 1])
        if len(values) > entities_cap:
            truncated, values = True, values[:entities_cap]
        if not values:
            continue
        pairs = (
            recent.filter(**{f"{field}__in": values})
            .exclude(account_id=txn.account_id)
            .values(field, "account_id")
            .annotate(n=Count("pk"))
            .order_by("-n", "account_id")[: budget + 1]
        )
        for pair in pairs:
            entity_id = f"{kind}:{pair[field]}"
            account_id = f"account:{pair['account_id']}"
            needed = (entity_id not in nodes) + (account_id not in nodes)
            if len(nodes) + needed > budget + 1:
                truncated = True
                break
            if entity_id not in nodes:
                nodes[entity_id] = {"id": entity_id, "kind": kind, "label": str(pair[field])}
                links.append({"source": center, "target": entity_id, "kind": kind})
            if account_id not in nodes:
                nodes[account_id] = {"id": account_id, "kind": "account", "label": pair["account_id"], "center": False}
            links.append({"source": entity_id, "target": account_id, "kind": kind})
    accounts = [n["label"] for n in nodes.values() if n["kind"] == "account"]
    states = (
        Transaction.objects.filter(account_id__in=accounts)
        .values("account_id")
        .annotate(
            fraud=Count("pk", filter=Q(is_fraud=True)),
            legitimate=Count("pk", filter=Q(is_fraud=False)),
            latest_case=Max("pk", filter=Q(score__isnull=False)),
            events=Count("pk"),
        )
    )
    for row in states:
        node = nodes[f"account:{row['account_id']}"]
        node.update(state=_state(row["fraud"], row["legitimate"]), latest_case=row["latest_case"], events=row["events"])
    return {
        "account_id": txn.account_id,
        "days": settings.NETWORK_DAYS,
        "max_nodes": settings.NETWORK_MAX_NODES,
        "truncated": truncated,
        "nodes": list(nodes.values()),
        "links": links,
    }


# --------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None


# Reviewers hold a case by claiming it (opening it or pressing Next) and let go of it by
# releasing it; the log records both, so a manager's page has many more of them than of
# decisions. Folded, each unbroken stretch of them by one person on one case reads as one hold.
HOLD_ACTIONS = ("claim", "claim_released")
AUDIT_HOLDS = ("collapsed", "all")

# What the page calls the object an entry is about, and which page shows it.
_OBJECT_WORDS = {
    "transaction": "case", "list": "list", "rule_set": "rule set version", "model_version": "model version",
    "training_run": "retraining run", "drift_alert": "drift alert", "tier_alert": "tier alert",
    "api_client": "API client", "user": "user", "account": "account", "address": "address",
    "roi_assumptions": "ROI assumptions",
}
_OBJECT_PAGES = {
    "rule_set": "rules", "model_version": "models", "training_run": "models", "drift_alert": "models",
    "tier_alert": "models", "api_client": "keys", "roi_assumptions": "dashboard",
}


def _audit_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor", "actor_client")
    if filters.actor:
        entries = entries.filter(Q(actor__username=filters.actor) | Q(actor_client__name=filters.actor))
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    if filters.date_from:
        entries = entries.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        entries = entries.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return entries


_HOLD_KEY = ("actor_id", "actor_client_id", "object_type", "object_id")


def _hold_key(e: AuditEntry | dict[str, Any]) -> tuple:
    """Who did it to what: a hold never spans two people or two objects."""
    values = e if isinstance(e, dict) else vars(e)
    return tuple(values[name] for name in _HOLD_KEY)


def _holds_folded(entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
    """The entries without the claims and releases that continue a hold: what stays is the
    first of each stretch. Done in the query, so counts and pages are of the rows shown."""
    same_person_and_object = {
        "partition_by": [F(name) for name in _HOLD_KEY],
        "order_by": [F("created_at").asc(), F("pk").asc()],
    }
    previous = Window(Lag("action", default=Value("")), **same_person_and_object)
    return entries.annotate(previous_action=previous).exclude(
        action__in=HOLD_ACTIONS, previous_action__in=HOLD_ACTIONS
    )


def _hold_runs(entries: QuerySet[AuditEntry], starts: list[AuditEntry]) -> dict[int, dict[str, Any]]:
    """For each first entry of a hold on the page: when the case was claimed and released,
    and how many entries the hold stands for."""
    if not starts:
        return {}
    same = Q()
    for e in starts:
        actor_id, client_id, object_type, object_id = _hold_key(e)
        same |= Q(actor_id=actor_id, actor_client_id=client_id, object_type=object_type, object_id=object_id)
    later = (
        entries.filter(same, created_at__gte=min(e.created_at for e in starts))
        .order_by("created_at", "pk")
        .values("pk", "action", "created_at", "detail", "actor_id", "actor_client_id", "object_type", "object_id")
    )
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for row in later:
        by_key.setdefault(_hold_key(row), []).append(row)
    runs = {}
    for e in starts:
        rows = by_key.get(_hold_key(e), [])
        at = next((i for i, row in enumerate(rows) if row["pk"] == e.pk), len(rows))
        stretch = list(takewhile(lambda row: row["action"] in HOLD_ACTIONS, rows[at:])) or [
            {"action": e.action, "created_at": e.created_at, "detail": e.detail}
        ]
        claim = next((row for row in stretch if row["action"] == "claim"), None)
        ended = stretch[-1]["action"] == "claim_released"
        runs[e.pk] = {
            "claimed_at": claim["created_at"] if claim else None,
            "how": (claim["detail"] or {}).get("how", "") if claim else "",
            # Still held, or let go by a decision (which clears the claim without a release).
            "released_at": stretch[-1]["created_at"] if ended else None,
            "entries": len(stretch),
        }
    return runs


def _names(rows: list[AuditEntry], object_type: str, model: Any, field: str) -> dict[int, str]:
    ids = {int(e.object_id) for e in rows if e.object_type == object_type and e.object_id.isdigit()}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field)) if ids else {}


def _audit_objects(rows: list[AuditEntry]) -> dict[int, tuple[str, str | None]]:
    """Each entry's object as words and the address of the page that shows it (None without one).
    Looked up for the whole page at once: a case or list may be gone since the entry was written."""
    case_ids = {int(e.object_id) for e in rows if e.object_type == "transaction" and e.object_id.isdigit()}
    cases = set(Score.objects.filter(pk__in=case_ids).values_list("pk", flat=True)) if case_ids else set()
    list_names = {e.object_id for e in rows if e.object_type == "list"}
    lists = dict(EntityList.objects.filter(name__in=list_names).values_list("name", "pk")) if list_names else {}
    # People and keys are logged by id; a manager knows them by name.
    names = {
        "user": _names(rows, "user", get_user_model(), "username"),
        "api_client": _names(rows, "api_client", ApiClient, "name"),
    }
    found = {}
    for e in rows:
        word = _OBJECT_WORDS.get(e.object_type, e.object_type.replace("_", " "))
        named = names.get(e.object_type, {}).get(int(e.object_id)) if e.object_id.isdigit() else None
        label = f"{word} {named or e.object_id}" if e.object_type and e.object_id else ""
        url = None
        if e.object_type == "transaction" and e.object_id.isdigit() and int(e.object_id) in cases:
            url = reverse("case", args=[int(e.object_id)])
        elif e.object_type == "list" and e.object_id in lists:
            url = reverse("rules-list", args=[lists[e.object_id]])
        elif e.action == "rules_backtest" and isinstance(e.detail.get("run"), int):
            url = reverse("rules-backtest", args=[e.detail["run"]])
        elif e.object_type in _OBJECT_PAGES:
            url = reverse(_OBJECT_PAGES[e.object_type])
        if e.object_type == "model_version" and (e.detail.get("name") or e.detail.get("model")):
            label = f"model {e.detail.get('name') or e.detail.get('model')}"
        found[e.pk] = (label, url)
    return found


def _field(name: str) -> str:
    return str(name).replace("_", " ")


def _value_text(value: Any) -> str:
    """A detail value as a person reads it: times in UTC, 24-hour; lists and mappings inline."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() else f"{round(value, 4):,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{_field(k)}: {_value_text(v)}" for k, v in value.items()) or "—"
    text = str(value)
    try:
        moment = parse_datetime(text) if len(text) >= 16 and text[4:5] == "-" else None
    except ValueError:  # shaped like a time but not one (month 13): shown as written
        moment = None
    if moment is not None:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt_timezone.utc)
        return f"{moment.astimezone(dt_timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    return text


def audit_detail_lines(detail: dict[str, Any]) -> list[dict[str, str]]:
    """The detail as lines: {field, before, after} for what a change changed (a `before`/`after`
    pair of mappings, or `x_before`/`x_after` keys), {field, value} for everything else.
    Empty values are left out: "note: —" on every decision says nothing."""
    detail = dict(detail or {})
    lines: list[dict[str, str]] = []
    before, after = detail.get("before"), detail.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        del detail["before"], detail["after"]
        for name in dict.fromkeys([*before, *after]):
            if before.get(name) != after.get(name):
                lines.append({"field": _field(name), "before": _value_text(before.get(name)),
                              "after": _value_text(after.get(name))})
    for name in [k for k in detail if k.endswith("_before") and f"{k[:-7]}_after" in detail]:
        base, old, new = name[:-7], detail.pop(name), detail.pop(f"{name[:-7]}_after")
        lines.append({"field": _field(base), "before": _value_text(old), "after": _value_text(new)})
    for name, value in detail.items():
        if value in (None, "", [], {}):
            continue
        lines.append({"field": _field(name), "value": _value_text(value)})
    return lines


def _actor_name(e: AuditEntry) -> str:
    return e.actor.get_username() if e.actor else (f"key: {e.actor_client.name}" if e.actor_client else "")


def audit_list(*, filters: AuditFilters, page: int = 1, page_size: int = 50, holds: str = "all") -> dict[str, Any]:
    """Audit entries newest first, filtered and paginated (page numbers from 1), each with its
    detail as readable lines and the address of its object's page.

    `holds="collapsed"` folds each stretch of claims and releases by one person on one case
    into its first entry, which carries `hold` (claimed, released, entries). Filtering by an
    action asks for those very entries, so nothing is folded then.
    """
    entries = _audit_entries(filters)
    folding = holds == "collapsed" and not filters.action
    shown = _holds_folded(entries) if folding else entries
    total = shown.count()
    folded = entries.count() - total if folding else 0
    start = (page - 1) * page_size
    rows = list(shown.order_by("-created_at", "-pk")[start : start + page_size])
    runs = _hold_runs(entries, [e for e in rows if e.action in HOLD_ACTIONS]) if folding else {}
    objects = _audit_objects(rows)
    items = [
        {
            "id": e.pk,
            "created_at": e.created_at,
            "actor": _actor_name(e),
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "object_label": objects[e.pk][0],
            "url": objects[e.pk][1],
            "detail": e.detail,
            "detail_lines": audit_detail_lines(e.detail),
            "hold": runs.get(e.pk),
        }
        for e in rows
    ]
    return {
        "total": total,
        "page": page,
        "page_size": page_size,
        "pages": max(1, -(-total // page_size)),
        "holds": "collapsed" if folding else "all",
        "holds_folded": folded,
        "items": items,
        "actions": audit_actions(),
    }


def audit_actions() -> list[str]:
    """Every action name seen in the log, for the filter's choices."""
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


# --------------------------------------------------------------------------- comments


def comment_view(comment: Any) -> dict[str, Any]:
    """One comment as the API answers it: who wrote it, when, and its earlier wordings."""
    return {"id": comment.pk, "author": comment.author.username, "body": comment.body,
            "created_at": comment.created_at, "edited_at": comment.edited_at, "history": comment.history}


def case_comments(*, transaction_id: int) -> list[dict[str, Any]]:
    """A case's comments, oldest first."""
    from triage.models import CaseComment

    return [comment_view(c) for c in CaseComment.objects.filter(transaction_id=transaction_id).select_related("author")]
