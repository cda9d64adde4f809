"""Pages for people. Each view checks the role it needs; data comes from the API."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static

from accounts.permissions import role_required
from accounts.roles import MANAGER, REVIEWER
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


@role_required(MANAGER)
def audit(request):
    return render(request, "frontend/audit.html")


def favicon(request):
    """Pages without an icon link of their own (Django's admin, the API docs) make browsers
    ask for /favicon.ico: answer with the app's icon rather than a 404 on every such page."""
    return HttpResponsePermanentRedirect(static("frontend/favicon.svg"))
