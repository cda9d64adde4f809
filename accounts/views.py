"""The API keys page: managers register services, list them, rotate and revoke their keys,
and lift the lockout of a login that met too many wrong passwords."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import ApiClientRegisterForm
from accounts.login_guard import locked_usernames, login_unlock
from accounts.models import ApiClient
from accounts.permissions import role_required
from accounts.roles import MANAGER
from accounts.services import api_client_create, api_client_revoke, api_client_rotate_key


def _keys_page(request, form: ApiClientRegisterForm | None = None, status: int = 200):
    clients = ApiClient.objects.filter(kind=ApiClient.Kind.API).order_by("-is_active", "name")
    # A new key is shown once: it lives in the session only until this page renders it.
    new_key = request.session.pop("new_api_key", None)
    locked = [{**row, "until": datetime.fromtimestamp(row["until"], tz=dt_timezone.utc)} for row in locked_usernames()]
    return render(request, "accounts/keys.html", {
        "clients": clients, "new_key": new_key, "locked": locked, "form": form or ApiClientRegisterForm(),
        "max_failures": settings.LOGIN_MAX_FAILURES, "lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
    }, status=status)


@role_required(MANAGER)
def key_list(request):
    return _keys_page(request)


@require_POST
@role_required(MANAGER)
def key_create(request):
    form = ApiClientRegisterForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form=form, status=400)
    client, key = api_client_create(actor=request.user, **form.cleaned_data)
    new_key = {"client": client.name, "key": key}
    if client.webhook_url:
        # /register answers the signing secret once too; without it the service cannot check its callbacks.
        new_key["webhook_secret"] = client.webhook_secret
    request.session["new_api_key"] = new_key
    return redirect("keys")


@require_POST
@role_required(MANAGER)
def key_rotate(request, client_id: int):
    client = get_object_or_404(ApiClient, pk=client_id, kind=ApiClient.Kind.API, is_active=True)
    key = api_client_rotate_key(client=client, actor=request.user)
    request.session["new_api_key"] = {"client": client.name, "key": key}
    return redirect("keys")


@require_POST
@role_required(MANAGER)
def key_revoke(request, client_id: int):
    client = get_object_or_404(ApiClient, pk=client_id, kind=ApiClient.Kind.API)
    if client.is_active:
        api_client_revoke(client=client, actor=request.user)
        messages.info(request, f"The key of {client.name} is revoked; it stops working within seconds.")
    return redirect("keys")


@require_POST
@role_required(MANAGER)
def login_unlock_view(request):
    username = request.POST.get("username", "")
    if login_unlock(username=username, actor=request.user):
        messages.info(request, f"{username} can log in again.")
    return redirect("keys")
