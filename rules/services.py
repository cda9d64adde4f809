"""Changes to lists and rule sets: each one checked, audited, and counted so every web
process reloads its compiled rules (rules.engine.rulebook)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, Iterable, Mapping

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.services import audit_record
from rules.engine import forget_rulebook, normalise_value, rule_check
from rules.language import RuleSyntaxError, Vocabulary
from rules.models import BacktestRun, EntityList, ListEntry, RuleSetVersion, RulesGeneration

CSV_COLUMNS = ("value", "reason", "expires_at")
MAX_CSV_ROWS = 200_000


class RulesRefused(ValueError):
    """A change that cannot be made, with the field at fault."""

    def __init__(self, field: str, message: str, *, position: int | None = None, pointer: str = ""):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.position, self.pointer = field, message, position, pointer


def _changed() -> None:
    """Inside the change's transaction: count it, and this process reloads on its next
    score (and again after commit). Should the transaction roll back, the reloaded count is
    one the database never had, so the next check reloads once more."""
    RulesGeneration.objects.get_or_create(pk=1)
    RulesGeneration.objects.filter(pk=1).update(generation=F("generation") + 1)
    forget_rulebook()
    transaction.on_commit(forget_rulebook)


def vocabulary() -> Vocabulary:
    return Vocabulary.default(lists=EntityList.objects.values_list("name", flat=True))


# ---- lists -----------------------------------------------------------------------------

@transaction.atomic
def list_create(*, name: str, kind: str, purpose: str, attribute: str = "", description: str = "", actor: Any) -> EntityList:
    name = (name or "").strip()
    if not name or len(name) > 64 or '"' in name or "\\" in name:
        raise RulesRefused("name", "1 to 64 characters, without quotes or backslashes")
    if EntityList.objects.filter(name=name).exists():
        raise RulesRefused("name", f"a list named {name!r} exists")
    if kind not in EntityList.Kind.values:
        raise RulesRefused("kind", f"one of {', '.join(EntityList.Kind.values)}")
    if purpose not in EntityList.Purpose.values:
        raise RulesRefused("purpose", f"one of {', '.join(EntityList.Purpose.values)}")
    attribute = (attribute or "").strip()
    if kind == EntityList.Kind.ATTRIBUTE and not attribute:
        raise RulesRefused("attribute", "name the event attribute this list holds values of")
    if kind != EntityList.Kind.ATTRIBUTE:
        attribute = ""
    entity_list = EntityList.objects.create(name=name, kind=kind, purpose=purpose, attribute=attribute,
                                            description=(description or "").strip(), created_by=_user(actor))
    audit_record(actor=actor, action="list_create", object_type="list", object_id=name,
                 detail={"kind": kind, "purpose": purpose, "attribute": attribute})
    _changed()
    return entity_list


@transaction.atomic
def list_delete(*, entity_list: EntityList, actor: Any) -> None:
    using = [v.number for v in RuleSetVersion.objects.exclude(status=RuleSetVersion.Status.RETIRED)
             if any(f'"{entity_list.name}"' in r.get("condition", "") or f"'{entity_list.name}'" in r.get("condition", "")
                    for r in v.rules)]
    if using:
        raise RulesRefused("list", f"rule set version(s) {', '.join(map(str, using))} name this list; change them first")
    audit_record(actor=actor, action="list_delete", object_type="list", object_id=entity_list.name,
                 detail={"entries": entity_list.entries.count()})
    entity_list.delete()
    _changed()


def _expiry(value: Any, field: str = "expires_at") -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        moment = parse_datetime(text) or (parse_datetime(text + "T00:00:00") if len(text) == 10 else None)
        if moment is None:
            raise RulesRefused(field, f"{text!r} is not a date or time (2027-01-31 or 2027-01-31T12:00:00Z)")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt_timezone.utc)
    return moment


@transaction.atomic
def entry_add(*, entity_list: EntityList, value: str, reason: str = "", expires_at: Any = None, actor: Any) -> ListEntry:
    try:
        value = normalise_value(entity_list.kind, value)
    except ValueError as exc:
        raise RulesRefused("value", str(exc)) from None
    expiry = _expiry(expires_at)
    if expiry is not None and expiry <= timezone.now():
        raise RulesRefused("expires_at", "lies in the past")
    reason = (reason or "").strip()[:300]
    existing = ListEntry.objects.select_for_update().filter(entity_list=entity_list, value=value).first()
    if existing is not None and (existing.reason, existing.expires_at) == (reason, expiry):
        return existing  # the same entry saved again: nothing changed, nothing to log or reload
    entry, created = ListEntry.objects.update_or_create(
        entity_list=entity_list, value=value,
        defaults={"reason": reason, "expires_at": expiry, "added_by": _user(actor)},
    )
    audit_record(actor=actor, action="list_entry_add" if created else "list_entry_update", object_type="list",
                 object_id=entity_list.name, detail={"value": value, "reason": entry.reason,
                                                      "expires_at": expiry.isoformat() if expiry else None})
    _changed()
    return entry


@transaction.atomic
def entry_remove(*, entity_list: EntityList, entry_id: int, actor: Any) -> None:
    entry = ListEntry.objects.filter(entity_list=entity_list, pk=entry_id).first()
    if entry is None:
        raise RulesRefused("entry", "no such entry in this list")
    audit_record(actor=actor, action="list_entry_remove", object_type="list", object_id=entity_list.name,
                 detail={"value": entry.value})
    entry.delete()
    _changed()


def entries_import_csv(*, entity_list: EntityList, data: bytes, actor: Any) -> dict[str, Any]:
    """Rows `value,reason,expires_at` (header optional). Good rows are stored in one
    transaction; each refused row comes back with its line and reason, nothing of it stored."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RulesRefused("file", "not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [c.strip().lower() for c in rows[0][:1]] == ["value"]:
        header, rows, first_line = rows[0], rows[1:], 2
    else:
        header, first_line = list(CSV_COLUMNS), 1
    if len(rows) > MAX_CSV_ROWS:
        raise RulesRefused("file", f"at most {MAX_CSV_ROWS:,} rows per upload")
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise RulesRefused("file", f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(CSV_COLUMNS)}")
    now = timezone.now()
    good: dict[str, tuple[str, datetime | None]] = {}
    rejects: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=first_line):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            rejects.append({"line": line, "value": row[0] if row else "", "reason": f"{len(row)} fields, expected at most {len(columns)}"})
            continue
        record = dict(zip(columns, row))
        try:
            value = normalise_value(entity_list.kind, record.get("value", ""))
            expiry = _expiry(record.get("expires_at"))
            if expiry is not None and expiry <= now:
                raise RulesRefused("expires_at", "lies in the past")
        except (ValueError, RulesRefused) as exc:
            rejects.append({"line": line, "value": record.get("value", ""), "reason": getattr(exc, "message", str(exc))})
            continue
        good[value] = ((record.get("reason") or "").strip()[:300], expiry)
    with transaction.atomic():
        existing = set(ListEntry.objects.filter(entity_list=entity_list, value__in=list(good)).values_list("value", flat=True))
        user = _user(actor)
        ListEntry.objects.bulk_create(
            [ListEntry(entity_list=entity_list, value=v, reason=r, expires_at=e, added_by=user) for v, (r, e) in good.items()],
            update_conflicts=True, unique_fields=["entity_list", "value"], update_fields=["reason", "expires_at", "added_by"],
            batch_size=5000,
        )
        audit_record(actor=actor, action="list_import", object_type="list", object_id=entity_list.name,
                     detail={"added": len(good) - len(existing), "updated": len(existing), "rejected": len(rejects)})
        _changed()
    return {"added": len(good) - len(existing), "updated": len(existing), "rejected": rejects}


def entries_csv(entity_list: EntityList) -> Iterable[str]:
    """The list as CSV, streamed: the same columns an upload takes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for value, reason, expires_at in entity_list.entries.order_by("value").values_list("value", "reason", "expires_at").iterator():
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([value, reason, expires_at.isoformat() if expires_at else ""])
        yield buffer.getvalue()


# ---- rule set versions -----------------------------------------------------------------

def _user(actor: Any):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def draft_get_or_create(*, actor: Any) -> RuleSetVersion:
    """The draft being edited; a new one starts as a copy of the active version."""
    draft = RuleSetVersion.objects.select_for_update().filter(status=RuleSetVersion.Status.DRAFT).first()
    if draft is not None:
        return draft
    active = RuleSetVersion.objects.filter(status=RuleSetVersion.Status.ACTIVE).first()
    number = (RuleSetVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    draft = RuleSetVersion.objects.create(number=number, rules=list(active.rules) if active else [], created_by=_user(actor),
                                          note=f"from version {active.number}" if active else "")
    audit_record(actor=actor, action="rules_draft", object_type="rule_set", object_id=str(number),
                 detail={"from_version": active.number if active else None})
    return draft


def _check(rule: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return rule_check(rule, vocabulary())
    except RuleSyntaxError as exc:
        raise RulesRefused("condition", exc.message, position=exc.position, pointer=exc.pointer) from None
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise RulesRefused(field, message) from None


@transaction.atomic
def draft_rule_save(*, rule: Mapping[str, Any], actor: Any, replaces: str | None = None) -> RuleSetVersion:
    """Add a rule to the draft, or replace the one named `replaces`; checked first."""
    checked = _check(rule)
    draft = draft_get_or_create(actor=actor)
    rules = [r for r in draft.rules if r["name"] != (replaces or checked["name"])]
    if any(r["name"] == checked["name"] for r in rules):
        raise RulesRefused("name", f"the draft has a rule named {checked['name']!r}")
    if replaces and len(rules) == len(draft.rules):
        raise RulesRefused("name", f"the draft has no rule named {replaces!r}")
    position = next((i for i, r in enumerate(draft.rules) if r["name"] == replaces), len(rules))
    rules.insert(position, checked)
    draft.rules = rules
    draft.save(update_fields=["rules"])
    audit_record(actor=actor, action="rules_edit", object_type="rule_set", object_id=str(draft.number),
                 detail={"rule": checked, "replaces": replaces})
    return draft


@transaction.atomic
def draft_rule_delete(*, name: str, actor: Any) -> RuleSetVersion:
    draft = draft_get_or_create(actor=actor)
    rules = [r for r in draft.rules if r["name"] != name]
    if len(rules) == len(draft.rules):
        raise RulesRefused("name", f"the draft has no rule named {name!r}")
    draft.rules = rules
    draft.save(update_fields=["rules"])
    audit_record(actor=actor, action="rules_edit", object_type="rule_set", object_id=str(draft.number),
                 detail={"removed": name})
    return draft


def _compiles(version: RuleSetVersion) -> None:
    for rule in version.rules:
        try:
            rule_check(rule, vocabulary())
        except RuleSyntaxError as exc:
            raise RulesRefused("condition", f"rule {rule['name']!r}: {exc.message}", position=exc.position, pointer=exc.pointer) from None


@transaction.atomic
def version_shadow(*, version: RuleSetVersion, actor: Any) -> RuleSetVersion:
    """Run a draft on live traffic without acting: its would-be hits are stored and compared
    with labels as they arrive. A version already in shadow is retired, its hits kept."""
    version = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != RuleSetVersion.Status.DRAFT:
        raise RulesRefused("version", f"version {version.number} is {version.status}; only a draft goes into shadow")
    _compiles(version)
    RuleSetVersion.objects.filter(status=RuleSetVersion.Status.SHADOW).update(status=RuleSetVersion.Status.RETIRED)
    version.status, version.shadow_since = RuleSetVersion.Status.SHADOW, timezone.now()
    version.save(update_fields=["status", "shadow_since"])
    audit_record(actor=actor, action="rules_shadow", object_type="rule_set", object_id=str(version.number),
                 detail={"rules": len(version.rules)})
    _changed()
    return version


@transaction.atomic
def version_activate(*, version: RuleSetVersion, actor: Any) -> RuleSetVersion:
    """Make a draft or shadow version the one that acts; the active one is retired."""
    version = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
    if version.status not in (RuleSetVersion.Status.DRAFT, RuleSetVersion.Status.SHADOW):
        raise RulesRefused("version", f"version {version.number} is {version.status}; activate a draft or a shadow version")
    _compiles(version)
    previous = RuleSetVersion.objects.filter(status=RuleSetVersion.Status.ACTIVE).first()
    if previous:
        previous.status = RuleSetVersion.Status.RETIRED
        previous.save(update_fields=["status"])
    version.status, version.activated_at = RuleSetVersion.Status.ACTIVE, timezone.now()
    version.save(update_fields=["status", "activated_at"])
    audit_record(actor=actor, action="rules_activate", object_type="rule_set", object_id=str(version.number),
                 detail={"previous": previous.number if previous else None, "rules": len(version.rules)})
    _changed()
    return version


@transaction.atomic
def version_rollback(*, actor: Any) -> RuleSetVersion:
    """The version active before the current one acts again; the current one is retired."""
    current = RuleSetVersion.objects.select_for_update().filter(status=RuleSetVersion.Status.ACTIVE).first()
    if current is None:
        raise RulesRefused("version", "no rule set is active")
    earlier = (RuleSetVersion.objects.filter(status=RuleSetVersion.Status.RETIRED, activated_at__isnull=False,
                                             activated_at__lt=current.activated_at)
               .order_by("-activated_at").first())
    if earlier is None:
        raise RulesRefused("version", "no earlier active version to go back to")
    _compiles(earlier)
    current.status = RuleSetVersion.Status.RETIRED
    current.save(update_fields=["status"])
    earlier.status = RuleSetVersion.Status.ACTIVE
    earlier.save(update_fields=["status"])  # activated_at kept: when it first acted
    audit_record(actor=actor, action="rules_rollback", object_type="rule_set", object_id=str(earlier.number),
                 detail={"from_version": current.number})
    _changed()
    return earlier


def backtest_request(*, version: RuleSetVersion, start: datetime, end: datetime, actor: Any) -> BacktestRun:
    if end <= start:
        raise RulesRefused("period_end", "must be after the start")
    if not version.rules:
        raise RulesRefused("version", f"version {version.number} has no rules to test")
    _compiles(version)
    run = BacktestRun.objects.create(version=version, rules=version.rules, period_start=start, period_end=end,
                                     created_by=_user(actor))
    audit_record(actor=actor, action="rules_backtest", object_type="rule_set", object_id=str(version.number),
                 detail={"run": run.pk, "start": start.isoformat(), "end": end.isoformat()})
    from rules.tasks import run_backtest

    transaction.on_commit(lambda: run_backtest.delay(run.pk))
    return run
