"""The login form, guarded against password guessing (`accounts.login_guard`), and the form
of the API keys page that registers a service."""
from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.login_guard import login_failed, login_refusal, login_succeeded
from accounts.models import ApiClient


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


def _limits(label: str) -> dict[str, str]:
    # Every message names its field: the page shows them in a summary above the form too.
    return {
        "required": f"{label} is required.",
        "max_length": f"{label} must be at most %(limit_value)d characters (it has %(show_value)d).",
    }


def _max_length(name: str) -> int:
    return ApiClient._meta.get_field(name).max_length


class ApiClientRegisterForm(forms.Form):
    """What POST /register takes (scoring.serializers.RegisterInputSerializer), checked the same way."""

    name = forms.CharField(
        label="Service name", max_length=_max_length("name"), error_messages=_limits("Service name"),
        widget=forms.TextInput(attrs={"placeholder": "checkout", "autocomplete": "off"}),
    )
    contact = forms.CharField(
        label="Contact", max_length=_max_length("contact"), required=False, error_messages=_limits("Contact"),
        widget=forms.TextInput(attrs={"placeholder": "payments-oncall@example.com"}),
    )
    webhook_url = forms.URLField(
        label="Webhook URL", max_length=_max_length("webhook_url"), required=False, assume_scheme="https",
        error_messages={**_limits("Webhook URL"), "invalid": "Webhook URL must be a full http or https URL."},
        widget=forms.URLInput(attrs={"placeholder": "https://checkout.example.com/fraud-callback"}),
    )

    def clean_webhook_url(self) -> str:
        from webhooks.destinations import DestinationRefused, check_url

        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                # As at /register: a name that does not resolve yet passes, each delivery checks again.
                check_url(url, resolve_required=False)
            except DestinationRefused as exc:
                raise forms.ValidationError(f"Webhook URL: {exc}.", code="refused") from exc
        return url
