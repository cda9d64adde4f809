"""Pages for people. Each view checks the role it needs; data comes from the API (the case
file, a download, is rendered here whole)."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.text import slugify

from accounts.permissions import role_required
from accounts.roles import MANAGER, REVIEWER
from audit.services import audit_record
from triage import selectors
from triage.models import Score


def home(request):
    return redirect("queue")


@role_required(REVIEWER)
def queue(request):
    return render(request, "frontend/queue.html", {"claim_seconds": settings.CLAIM_SECONDS})


@role_required(REVIEWER)
def case(request, transaction_id: int):
    if not Score.objects.filter(pk=transaction_id).exists():
        raise Http404("no such case")
    context = {"transaction_id": transaction_id, "undo_seconds": settings.UNDO_SECONDS, "claim_seconds": settings.CLAIM_SECONDS,
               "claim_minutes": settings.CLAIM_SECONDS // 60}
    return render(request, "frontend/case.html", context)


@role_required(REVIEWER)
def case_file(request, transaction_id: int):
    """The case as one self-contained HTML file (styles and chart inside, prints to PDF),
    downloaded for a chargeback or a suspicious activity report. Audited: it carries
    customer data out of the workbench."""
    score = selectors.case_get(transaction_id=transaction_id)
    if score is None:
        raise Http404("no such case")
    context = selectors.case_file(score=score)
    audit_record(actor=request.user, action="case_file_exported", object_type="transaction", object_id=str(transaction_id),
                 detail={"event_id": score.transaction.event_id, "account_id": score.transaction.account_id})
    response = render(request, "frontend/case_file.html", {**context, "transaction_id": transaction_id})
    name = f"case-{transaction_id}-{slugify(score.transaction.event_id)[:60] or 'event'}.html"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@role_required(REVIEWER)
def dispositions(request):
    return render(request, "frontend/dispositions.html")


@role_required(MANAGER)
def audit(request):
    return render(request, "frontend/audit.html")


def favicon(request):
    """Pages without an icon link of their own (Django's admin, the API docs) make browsers
    ask for /favicon.ico: answer with the app's icon rather than a 404 on every such page."""
    return HttpResponsePermanentRedirect(static("frontend/favicon.svg"))
