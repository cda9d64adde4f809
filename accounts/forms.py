"""The login form, guarded against password guessing (`accounts.login_guard`)."""
from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.login_guard import login_failed, login_refusal, login_succeeded


def client_address(request) -> str:
    # REMOTE_ADDR is the peer gunicorn saw; behind a proxy it is set from the proxy's
    # header by the proxy setup, never read from a header a client can write.
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class GuardedAuthenticationForm(AuthenticationForm):
    locked_out_reason = ""  # shown instead of "wrong username or password" when set

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        reason = login_refusal(username=username, address=address)
        if reason:
            self.locked_out_reason = reason
            raise forms.ValidationError(reason, code="locked_out")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username and self.cleaned_data.get("password"):
                login_failed(username=username, address=address)
            raise
        login_succeeded(username=username)
        return cleaned
