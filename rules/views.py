"""The /rules/ and /lists/ pages: reviewers read them, managers change them."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.contrib import messages
from django.db.models import Max
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import ApiClient
from accounts.permissions import role_required
from accounts.roles import MANAGER, REVIEWER, user_has_role
from rules import selectors, services
from rules.engine import ACTIONS
from rules.language import EVENT_FIELDS, MODEL_FIELDS
from rules.models import BacktestRun, EntityList, RuleSetVersion
from triage.models import Transaction

BACKTEST_DEFAULT_DAYS = 30


def _rules_context(request, **extra):
    from ml.features import FEATURE_NAMES

    # The default backtest period ends at the latest stored event, not today: history
    # imported from another time (or the demo's world) is what there is to test on.
    latest = Transaction.objects.aggregate(t=Max("timestamp"))["t"]
    today = (latest or timezone.now()).date()
    draft = selectors.version_of(RuleSetVersion.Status.DRAFT)
    context = {
        "active": selectors.version_of(RuleSetVersion.Status.ACTIVE),
        "shadow": selectors.version_of(RuleSetVersion.Status.SHADOW),
        "draft": draft,
        "versions": selectors.versions(),
        "backtests": BacktestRun.objects.select_related("version", "created_by")[:10],
        "actions": ACTIONS.items(),
        "clients": ApiClient.objects.order_by("name").values_list("pk", "name"),
        "lists": EntityList.objects.order_by("name"),
        "names": {"event": sorted(EVENT_FIELDS), "model": sorted(MODEL_FIELDS), "features": sorted(FEATURE_NAMES)},
        "can_edit": user_has_role(request.user, MANAGER),
        "backtest_start": (today - timedelta(days=BACKTEST_DEFAULT_DAYS)).isoformat(),
        "backtest_end": today.isoformat(),
        "form": {"priority": 100, "action": "review"},
        "editing": None,
    }
    shadow = context["shadow"]
    context["shadow_results"] = selectors.shadow_results(shadow) if shadow else []
    client_names = dict(context["clients"])
    for version in (context["active"], shadow, draft):
        if version:
            for rule in version.rules:
                rule["client_names"] = [client_names.get(c, f"#{c}") for c in rule.get("clients") or []]
    context.update(extra)
    return context


@role_required(REVIEWER)
def rules_page(request):
    editing = request.GET.get("edit")
    context = _rules_context(request)
    if editing and context["draft"] and context["can_edit"]:
        rule = next((r for r in context["draft"].rules if r["name"] == editing), None)
        if rule:
            context["form"], context["editing"] = dict(rule), editing
    return render(request, "rules/rules.html", context)


@require_POST
@role_required(MANAGER)
def rule_save(request):
    form = {
        "name": request.POST.get("name", ""), "condition": request.POST.get("condition", ""),
        "action": request.POST.get("action", ""), "reason": request.POST.get("reason", ""),
        "priority": request.POST.get("priority", "100"), "clients": [int(c) for c in request.POST.getlist("clients") if c.isdigit()],
    }
    replaces = request.POST.get("replaces") or None
    try:
        services.draft_rule_save(rule=form, actor=request.user, replaces=replaces)
    except services.RulesRefused as refused:
        context = _rules_context(request, form=form, editing=replaces, form_error=refused)
        return render(request, "rules/rules.html", context, status=400)
    messages.success(request, f"Rule {form['name'].strip()!r} saved in the draft. Backtest it, run it in shadow, then activate it.")
    return redirect("rules")


@require_POST
@role_required(MANAGER)
def rule_delete(request):
    try:
        services.draft_rule_delete(name=request.POST.get("name", ""), actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, refused.message)
    return redirect("rules")


def _version(number: int) -> RuleSetVersion:
    return get_object_or_404(RuleSetVersion, number=number)


@require_POST
@role_required(MANAGER)
def version_action(request, number: int, action: str):
    version = _version(number)
    change = {"shadow": services.version_shadow, "activate": services.version_activate}.get(action)
    if change is None:
        raise Http404("no such action")
    try:
        change(version=version, actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Version {number} is now {'running in shadow' if action == 'shadow' else 'active'}.")
    return redirect("rules")


@require_POST
@role_required(MANAGER)
def rollback(request):
    try:
        version = services.version_rollback(actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Rolled back: version {version.number} is active again.")
    return redirect("rules")


def _day(value: str, field: str) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except (TypeError, ValueError):
        raise services.RulesRefused(field, "a date like 2026-11-30") from None
    return datetime.combine(day, time.min, tzinfo=dt_timezone.utc)


@require_POST
@role_required(MANAGER)
def backtest_start(request, number: int):
    version = _version(number)
    try:
        start = _day(request.POST.get("start", ""), "start")
        end = _day(request.POST.get("end", ""), "end") + timedelta(days=1)  # the end day is included
        run = services.backtest_request(version=version, start=start, end=end, actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, f"Backtest: {refused.field.replace('_', ' ')} {refused.message}")
        return render(request, "rules/rules.html", _rules_context(request), status=400)
    return redirect("rules-backtest", run_id=run.pk)


@role_required(REVIEWER)
def backtest_page(request, run_id: int):
    run = get_object_or_404(BacktestRun.objects.select_related("version", "created_by"), pk=run_id)
    return render(request, "rules/backtest.html", {"run": run, "actions": dict(ACTIONS)})


# ---- lists -----------------------------------------------------------------------------

@role_required(REVIEWER)
def lists_page(request):
    return render(request, "rules/lists.html", {
        "lists": selectors.lists_with_counts(), "kinds": EntityList.Kind.choices, "purposes": EntityList.Purpose.choices,
        "can_edit": user_has_role(request.user, MANAGER), "form": {},
    })


@require_POST
@role_required(MANAGER)
def list_create(request):
    form = {key: request.POST.get(key, "") for key in ("name", "kind", "purpose", "attribute", "description")}
    try:
        entity_list = services.list_create(actor=request.user, **form)
    except services.RulesRefused as refused:
        return render(request, "rules/lists.html", {
            "lists": selectors.lists_with_counts(), "kinds": EntityList.Kind.choices, "purposes": EntityList.Purpose.choices,
            "can_edit": True, "form": form, "form_error": refused,
        }, status=400)
    messages.success(request, f"List {entity_list.name!r} created: add entries one by one or upload a CSV file.")
    return redirect("rules-list", list_id=entity_list.pk)


def _list_context(request, entity_list: EntityList, **extra):
    now = timezone.now()
    entries = list(entity_list.entries.select_related("added_by").order_by("-created_at")[:500])
    for entry in entries:
        entry.expired = entry.expires_at is not None and entry.expires_at <= now
    return {"list": entity_list, "entries": entries, "entry_count": entity_list.entries.count(),
            "can_edit": user_has_role(request.user, MANAGER), "form": {}, **extra}


@role_required(REVIEWER)
def list_page(request, list_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    return render(request, "rules/list.html", _list_context(request, entity_list))


@require_POST
@role_required(MANAGER)
def entry_add(request, list_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    form = {key: request.POST.get(key, "") for key in ("value", "reason", "expires_at")}
    try:
        entry = services.entry_add(entity_list=entity_list, actor=request.user, **form)
    except services.RulesRefused as refused:
        return render(request, "rules/list.html", _list_context(request, entity_list, form=form, form_error=refused), status=400)
    messages.success(request, f"{entry.value} is on the list.")
    return redirect("rules-list", list_id=list_id)


@require_POST
@role_required(MANAGER)
def entry_remove(request, list_id: int, entry_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    try:
        services.entry_remove(entity_list=entity_list, entry_id=entry_id, actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, refused.message)
    return redirect("rules-list", list_id=list_id)


@require_POST
@role_required(MANAGER)
def entries_upload(request, list_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    upload = request.FILES.get("file")
    if upload is None:
        refused = services.RulesRefused("file", "choose a CSV file to upload")
        return render(request, "rules/list.html", _list_context(request, entity_list, upload_error=refused), status=400)
    try:
        report = services.entries_import_csv(entity_list=entity_list, data=upload.read(), actor=request.user)
    except services.RulesRefused as refused:
        return render(request, "rules/list.html", _list_context(request, entity_list, upload_error=refused), status=400)
    return render(request, "rules/list.html", _list_context(request, entity_list, report=report, filename=upload.name))


@role_required(REVIEWER)
def entries_download(request, list_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    response = StreamingHttpResponse(services.entries_csv(entity_list), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="list-{entity_list.pk}.csv"'
    return response


@require_POST
@role_required(MANAGER)
def list_delete(request, list_id: int):
    entity_list = get_object_or_404(EntityList, pk=list_id)
    try:
        services.list_delete(entity_list=entity_list, actor=request.user)
    except services.RulesRefused as refused:
        messages.error(request, refused.message)
        return redirect("rules-list", list_id=list_id)
    messages.success(request, f"List {entity_list.name!r} deleted.")
    return redirect("rules-lists")
