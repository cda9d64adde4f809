"""Triage reads: the queue with its filters and counts, cases, account history, linked accounts, comments."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from core import contract
from core.dates import within_days
from triage.models import STATUS_TABS, UNDECIDED_STATUSES, CaseComment, Decision, Score, Tier, Transaction
from triage.services import claim_holder

TIER_ORDER = (Tier.HIGH.value, Tier.MEDIUM.value, Tier.LOW.value)
FAILED_STATUSES = ("failed", "declined")

QUEUE_FIELDS = (
    "transaction_id", "transaction__event_id", "transaction__account_id", "transaction__timestamp",
    "transaction__event_type", "transaction__amount", "transaction__currency", "probability", "risk_score",
    "tier", "expected_loss", "model_version_name", "review_status", "explanation_status", "scored_at",
    "claimed_by__username", "claim_expires_at", "assigned_to__username", "snoozed_until",
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
    # A username: that reviewer's assigned cases; NOBODY: cases assigned to no one.
    assignee: str = ""


NOBODY = "-"


def queue_cases(*, filters: QueueFilters) -> QuerySet[Score]:
    """Scores matching the filters (any status); callers add status, tier and order."""
    # Both days included: the whole last day counts.
    cases = within_days(Score.objects.all(), "transaction__timestamp", date_from=filters.date_from, date_to=filters.date_to)
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
    if filters.assignee == NOBODY:
        cases = cases.filter(assigned_to__isnull=True)
    elif filters.assignee:
        cases = cases.filter(assigned_to__username=filters.assignee)
    return cases


def _open(cases: QuerySet[Score]) -> QuerySet[Score]:
    return cases.filter(review_status=Score.ReviewStatus.OPEN)


def _tab(cases: QuerySet[Score], *, tier: str | None, status: str) -> QuerySet[Score]:
    """What one tab lists: a status tab's cases of every tier, or a tier's open cases."""
    if status in STATUS_TABS:
        return cases.filter(review_status=status)
    cases = _open(cases)
    return cases.filter(tier=tier) if tier else cases


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
        for name in STATUS_TABS:
            found[name] = matching.filter(review_status=name)[: cap + 1].count()
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
    # Escalated and snoozed cases of every tier: few, and they must never drop out of sight.
    for name in STATUS_TABS:
        n = Score.objects.filter(review_status=name).order_by()[: cap + 1].count()
        counts[name] = min(n, cap)
        if n > cap:
            capped.append(name)
    return counts, capped


def queue_new_count(*, filters: QueueFilters, since: datetime, tier: str | None = None, status: str = "open") -> int:
    """Cases of the list being looked at (a tier's open ones, or the escalated ones) scored
    after `since`, for the "new cases arrived" notice; capped. Counting every tier while
    highlighting one tier's rows announced cases the reviewer could not find."""
    cases = _tab(queue_cases(filters=filters).filter(scored_at__gt=since).order_by(), tier=tier, status=status)
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
    """Open cases of one tier (or, with status "escalated" or "snoozed", those cases of every
    tier), highest expected loss first, with who holds each one."""
    cases = _tab(queue_cases(filters=filters or QueueFilters()), tier=tier, status=status)
    rows = (
        cases
        .order_by("-expected_loss", "transaction_id")
        .values(*QUEUE_FIELDS)[offset : offset + limit]
    )
    now = timezone.now()
    return [_queue_item(r, now=now, since=since) for r in rows]


# How many alerts one walk of the queue index reads at a time while it gathers accounts, and
# the most it reads for one page (a tier whose top alerts all belong to a few accounts).
ACCOUNT_WALK_CHUNK = 500
ACCOUNT_WALK_MAX = 50_000
# The fewest accounts asked at once whether a higher tier holds them.
ACCOUNT_CHECK_MIN = 20


def queue_account_cases(
    *, tier: str, filters: QueueFilters | None = None, limit: int = 50, offset: int = 0, since: datetime | None = None,
    status: str = "open",
) -> list[dict[str, Any]]:
    """The queue as cases: one row per account, in the order of each account's costliest alert.

    An account's case gathers its undecided alerts (open, or escalated on the escalated tab)
    of every tier, and sits in the tab of its highest tier only, so it is listed once. Each
    row is its top alert in the queue's shape plus the case's figures: alert count, total
    expected loss, highest risk score, its first alert's event time (which its due time
    counts from) and the alert ids a decision on the case covers. The walk reads the tier's
    ordered index in chunks and skips accounts already seen, so a page costs a short index
    walk however many alerts the tier holds.
    """
    by_status = status in STATUS_TABS
    cases = _tab(queue_cases(filters=filters or QueueFilters()), tier=tier, status=status)
    ordered = cases.order_by("-expected_loss", "transaction_id").values_list("transaction_id", "transaction__account_id")
    higher = [] if by_status else list(TIER_ORDER[: TIER_ORDER.index(tier)])
    wanted = offset + limit
    seen: set[str] = set()
    tops: list[tuple[int, str]] = []
    start = 0
    # The first read is about the page's size (most accounts have one alert in a tier); later
    # ones grow, for tiers whose top alerts belong to few accounts.
    chunk = min(ACCOUNT_WALK_CHUNK, max(2 * wanted, 100))
    while len(tops) < wanted and start < ACCOUNT_WALK_MAX:
        rows = list(ordered[start : start + chunk])
        if not rows:
            break
        start += len(rows)
        chunk = min(ACCOUNT_WALK_CHUNK, 2 * chunk)
        # Each new account's first (costliest) alert in this chunk, in order.
        firsts, met = [], set()
        for pk, account in rows:
            if account not in seen and account not in met:
                met.add(account)
                firsts.append((pk, account))
        # An account with an open alert of a higher tier is that tier's case. Asked a slice of
        # accounts at a time, as many as the page still needs: a 500-account question costs
        # ten thousand index look-ups when the first fifty answer it.
        while firsts and len(tops) < wanted:
            size = max(wanted - len(tops), ACCOUNT_CHECK_MIN)
            part, firsts = firsts[:size], firsts[size:]
            accounts = [a for _, a in part]
            seen.update(accounts)
            elsewhere = set(
                _open(Score.objects.filter(tier__in=higher, transaction__account_id__in=accounts))
                .values_list("transaction__account_id", flat=True).distinct()
            ) if higher else set()
            tops += [(pk, a) for pk, a in part if a not in elsewhere]
    page = tops[offset:wanted]
    if not page:
        return []
    accounts = [a for _, a in page]
    members = Score.objects.filter(
        transaction__account_id__in=accounts,
        review_status__in=(status,) if by_status else (Score.ReviewStatus.OPEN,),
    ).values_list("transaction__account_id", "transaction_id", "expected_loss", "risk_score", "transaction__timestamp")
    figures: dict[str, dict[str, Any]] = {a: {"alert_ids": [], "loss": 0.0, "risk": 0, "first": None} for a in accounts}
    for account, pk, loss, risk, at in members:
        f = figures[account]
        f["alert_ids"].append(pk)
        f["loss"] += loss
        f["risk"] = max(f["risk"], risk)
        f["first"] = at if f["first"] is None or at < f["first"] else f["first"]
    rows_by_id = {r["transaction_id"]: r for r in Score.objects.filter(pk__in=[pk for pk, _ in page]).values(*QUEUE_FIELDS)}
    now = timezone.now()
    items = []
    for pk, account in page:
        item = _queue_item(rows_by_id[pk], now=now, since=since)
        f = figures[account]
        case_tier = item["tier"]
        item.update(
            alerts=len(f["alert_ids"]), alert_ids=sorted(f["alert_ids"]), case_expected_loss=f["loss"],
            case_max_risk_score=f["risk"], first_alert_at=f["first"],
            # The case is due from its first alert: the oldest risk decides how late it is.
            sla_due_at=sla_due(case_tier, f["first"]),
            sla_state=sla_state(tier=case_tier, event_time=f["first"], review_status=item["review_status"], now=now),
        )
        items.append(item)
    return items


def account_alerts(*, account_id: str) -> list[dict[str, Any]]:
    """The account's undecided alerts (its case), costliest first, in the queue's shape."""
    rows = (
        Score.objects.filter(transaction__account_id=account_id, review_status__in=UNDECIDED_STATUSES)
        .order_by("-expected_loss", "transaction_id").values(*QUEUE_FIELDS)[:200]
    )
    now = timezone.now()
    return [_queue_item(r, now=now, since=None) for r in rows]


def queue_item(*, transaction_id: int) -> dict[str, Any] | None:
    """One case in the queue's shape (any status)."""
    row = Score.objects.filter(pk=transaction_id).values(*QUEUE_FIELDS).first()
    return _queue_item(row, now=timezone.now(), since=None) if row else None


def sla_due(tier: str, event_time: datetime) -> datetime:
    """When a case of this tier raised on an event at `event_time` is due to be decided."""
    return event_time + timedelta(hours=settings.CASE_SLA_HOURS[tier])


def sla_state(*, tier: str, event_time: datetime, review_status: str, now: datetime) -> str:
    """"breached", "due_soon" (the last quarter of its time), "on_time", or "" once decided."""
    if review_status not in UNDECIDED_STATUSES:
        return ""
    due = sla_due(tier, event_time)
    if now >= due:
        return "breached"
    if now >= due - timedelta(hours=settings.CASE_SLA_HOURS[tier] / 4):
        return "due_soon"
    return "on_time"


def sla_breaches(*, cap: int | None = None) -> dict[str, dict[str, Any]]:
    """Open and escalated cases past their due time, per tier (counted up to `cap`)."""
    cap = cap or settings.QUEUE_COUNT_CAP
    now = timezone.now()
    undecided = Score.objects.filter(review_status__in=UNDECIDED_STATUSES)
    out = {}
    for tier in TIER_ORDER:
        hours = settings.CASE_SLA_HOURS[tier]
        late = undecided.filter(tier=tier, transaction__timestamp__lte=now - timedelta(hours=hours)).order_by()
        n = late[: cap + 1].count()
        out[tier] = {"hours": hours, "breached": min(n, cap), "capped": n > cap}
    return out


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
        "assigned_to": r["assigned_to__username"],
        "snoozed_until": r["snoozed_until"],
        "is_new": bool(since and r["scored_at"] > since),
        "sla_due_at": sla_due(r["tier"], r["transaction__timestamp"]),
        "sla_state": sla_state(tier=r["tier"], event_time=r["transaction__timestamp"], review_status=r["review_status"],
                               now=now),
    }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


# --------------------------------------------------------------------------- one case

EVENT_FIELDS = contract.NAMES


def case_get(*, transaction_id: int) -> Score | None:
    return (
        Score.objects.select_related("transaction", "transaction__client", "claimed_by", "assigned_to")
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
            "disposition": _disposition(d),
            "note": d.note,
            "reviewer": d.reviewer.get_username(),
            "model_version": d.model_version_name,
            "created_at": d.created_at,
            "undone_at": d.undone_at,
        }
        for d in Decision.objects.filter(transaction=txn).select_related("reviewer", "disposition").order_by("-created_at", "-pk")
    ]
    now = timezone.now()
    case_alerts = account_alerts(account_id=txn.account_id)
    case_tier, first = score.tier, txn.timestamp
    if score.review_status in UNDECIDED_STATUSES and case_alerts:
        case_tier = min((a["tier"] for a in case_alerts), key=TIER_ORDER.index)
        first = min(a["timestamp"] for a in case_alerts)
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
        "assigned_to": score.assigned_to.get_username() if score.assigned_to_id else None,
        "assigned_at": score.assigned_at,
        "snoozed_until": score.snoozed_until,
        "decisions": decisions,
        # The account's case: every undecided alert of the account, this one included.
        "case_alerts": case_alerts,
        "undo_seconds": settings.UNDO_SECONDS,
        # An undecided alert is due when its account's case is: from the case's first alert,
        # at the service level of its highest tier.
        "sla": {
            "hours": settings.CASE_SLA_HOURS[case_tier],
            "due_at": sla_due(case_tier, first),
            "state": sla_state(tier=case_tier, event_time=first, review_status=score.review_status, now=now),
        },
    }


def _disposition(decision: Decision) -> dict[str, str] | None:
    d = decision.disposition
    return {"code": d.code, "label": d.label} if d else None


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
            "disposition": _disposition(d),
            "note": d.note,
            "reviewer": d.reviewer.get_username(),
            "created_at": d.created_at,
            "undone": d.undone_at is not None,
        }
        for d in Decision.objects.filter(transaction__account_id=txn.account_id)
        .select_related("transaction", "reviewer", "disposition")
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
            open_cases=Count("pk", filter=Q(score__review_status__in=UNDECIDED_STATUSES)),
        )
    )
    for row in states:
        node = nodes[f"account:{row['account_id']}"]
        node.update(state=_state(row["fraud"], row["legitimate"]), latest_case=row["latest_case"], events=row["events"],
                    open_cases=row["open_cases"])
    # What ties each account to this one: a shared device or IP says "ring"; a shared
    # merchant alone rarely does (a ring decision pre-selects only the former).
    for link in links:
        if link["source"] != center:
            nodes[link["target"]].setdefault("via", []).append(link["kind"])
    return {
        "account_id": txn.account_id,
        "days": settings.NETWORK_DAYS,
        "max_nodes": settings.NETWORK_MAX_NODES,
        "truncated": truncated,
        "nodes": list(nodes.values()),
        "links": links,
    }


# --------------------------------------------------------------------------- comments


def comment_view(comment: Any) -> dict[str, Any]:
    """One comment as the API answers it: who wrote it, when, and its earlier wordings."""
    return {"id": comment.pk, "author": comment.author.username, "body": comment.body,
            "created_at": comment.created_at, "edited_at": comment.edited_at, "history": comment.history}


def case_comments(*, transaction_id: int) -> list[dict[str, Any]]:
    """A case's comments, oldest first."""
    return [comment_view(c) for c in CaseComment.objects.filter(transaction_id=transaction_id).select_related("author")]


# --------------------------------------------------------------------------- case file


def case_file(*, score: Score) -> dict[str, Any]:
    """Everything a chargeback or suspicious activity report needs about one case, in time
    order and in words: a narrative, the account's events, decisions, comments, the reasons
    and the points of the amounts chart."""
    txn = score.transaction
    detail = case_detail(score=score)
    history = account_history(txn=txn)
    network = account_network(txn=txn)
    comments = case_comments(transaction_id=txn.pk)
    summary = history["summary"]
    linked = [n for n in network["nodes"] if n["kind"] == "account" and not n.get("center")]
    reasons = (score.explanation or {}).get("reasons", []) if score.explanation_status == "ready" else []
    rule_hits = (score.rules or {}).get("hits", [])

    def amount_words(amount: Any, currency: str) -> str:
        return "no amount" if amount is None else f"{amount:,.2f} {currency}".strip()

    story = [
        f"Account {txn.account_id} has {summary['events']:,} events on record, from "
        f"{_day(summary['first_seen'])} to {_day(summary['last_seen'])}, totalling {_money(summary['total_amount'])}; "
        f"known labels: {summary['known_fraud']} fraud, {summary['known_legitimate']} legitimate "
        f"(state: {summary['state']}).",
        f"On {_stamp(txn.timestamp)} the account made a {txn.event_type or 'event'} of "
        f"{amount_words(_plain(txn.amount), txn.currency)}"
        + (f" from device {txn.device_id}" if txn.device_id else "")
        + (f", IP address {txn.ip_address}" if txn.ip_address else "")
        + (f", in {txn.country}" if txn.country else "")
        + (f", at merchant {txn.merchant_id}" if txn.merchant_id else "")
        + f" (event {txn.event_id}, sent by {txn.client.name}).",
        f"The model ({score.model_version_name}) gave it risk score {score.risk_score}/100, tier {score.tier}, "
        f"probability {score.probability:.1%} and an expected loss of {score.expected_loss:,.2f}.",
    ]
    if reasons:
        story.append("It scored so because: " + "; ".join(
            f"{r['text']} ({'raises' if r['direction'] == 'raises' else 'lowers'} the risk)" for r in reasons) + ".")
    if rule_hits:
        story.append("Rules and lists: " + "; ".join(h["reason"] for h in rule_hits) + ".")
    if linked:
        story.append(f"{len(linked)} other account{'s' if len(linked) != 1 else ''} shared a device, IP address or "
                     f"merchant with it in the {network['days']} days before: "
                     + ", ".join(f"{n['label']} ({n.get('state', 'unknown')})" for n in linked[:20]) + ".")
    timeline = [("event", e["timestamp"], e) for e in history["events"]]
    timeline += [("decision", d["created_at"], d) for d in detail["decisions"]]
    timeline += [("comment", c["created_at"], c) for c in comments]
    timeline.sort(key=lambda item: item[1])
    happenings = []
    for kind, at, item in timeline:
        if kind == "event":
            words = (f"{item['event_type'] or 'event'} {item['event_id']} of {amount_words(item['amount'], item['currency'])}"
                     + (f" from device {item['device_id']}" if item["device_id"] else "")
                     + (" (payment failed)" if item["payment_failed"] else "")
                     + (f", risk score {item['risk_score']} ({item['tier']})" if item["risk_score"] is not None else "")
                     + (f", labelled {'fraud' if item['is_fraud'] else 'legitimate'}" if item["is_fraud"] is not None else "")
                     + (" — this case" if item["is_this_case"] else ""))
        elif kind == "decision":
            reason = f" ({item['disposition']['label']})" if item["disposition"] else ""
            words = (f"{item['reviewer']} decided: {item['verdict']}{reason}" + (f" — “{item['note']}”" if item["note"] else "")
                     + (" (later undone)" if item["undone_at"] else ""))
        else:
            words = f"{item['author']} commented: “{item['body']}”"
        happenings.append({"kind": kind, "at": at, "words": words})
    amounts = [(e["timestamp"], e["amount"], e["is_this_case"], e["is_fraud"]) for e in history["events"] if e["amount"] is not None]
    return {
        "detail": detail, "history": history, "comments": comments, "narrative": story, "happenings": happenings,
        "reasons": reasons, "linked": linked, "amounts_chart": _amounts_chart(amounts), "generated_at": timezone.now(),
    }


def _stamp(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "—"


def _money(value: Any) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _amounts_chart(points: list[tuple[datetime, float, bool, bool | None]], width: int = 640, height: int = 180) -> dict[str, Any]:
    """Positions of the account's amounts over time for an SVG drawn in the file itself, so
    the file needs nothing else to show (or print) its chart."""
    if not points:
        return {"width": width, "height": height, "dots": [], "max": 0}
    left, right, top, bottom = 56, 12, 10, 28
    times = [p[0].timestamp() for p in points]
    t0, t1 = min(times), max(times)
    top_amount = max(p[1] for p in points) or 1.0
    span = (t1 - t0) or 1.0
    dots = [
        {
            "x": round(left + (t - t0) / span * (width - left - right), 1),
            "y": round(height - bottom - amount / top_amount * (height - top - bottom), 1),
            "this": this, "fraud": fraud is True,
        }
        for (at, amount, this, fraud), t in zip(points, times)
    ]
    return {"width": width, "height": height, "dots": dots, "max": top_amount, "left": left, "bottom": height - bottom,
            "first": _day(points[0][0]), "last": _day(points[-1][0]), "right": width - right}
