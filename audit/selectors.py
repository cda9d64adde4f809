"""Reading the audit log: filtered pages, claim/release runs folded into holds, details as words,
each object named and linked to its page.

Objects of other rooms (cases, lists, API clients) are looked up by model name, so this room
imports none of them: every room writes to the log, and the log reads from every room.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import timezone as dt_timezone
from itertools import takewhile
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet, Value, Window
from django.db.models.functions import Lag
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import AuditEntry
from core.dates import within_days


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
    return within_days(entries, "created_at", date_from=filters.date_from, date_to=filters.date_to)


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
    cases = set(apps.get_model("triage", "Score").objects.filter(pk__in=case_ids).values_list("pk", flat=True)) if case_ids else set()
    list_names = {e.object_id for e in rows if e.object_type == "list"}
    lists = dict(apps.get_model("rules", "EntityList").objects.filter(name__in=list_names).values_list("name", "pk")) if list_names else {}
    # People and keys are logged by id; a manager knows them by name.
    names = {
        "user": _names(rows, "user", get_user_model(), "username"),
        "api_client": _names(rows, "api_client", apps.get_model("accounts", "ApiClient"), "name"),
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


