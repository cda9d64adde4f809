"""Managers register services, list, rotate and revoke API keys in the app; every change is audited."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from playwright.sync_api import expect
from rest_framework.test import APIClient

from accounts.models import ApiClient
from audit.models import AuditEntry
from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, event

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.login(username=user.username, password=DEMO_PASSWORD)
    return client


def _csrf(page) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()


def _api(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def test_manager_sees_registered_services_without_their_keys(manager, api_client_and_key):
    client, key = api_client_and_key
    page = _login(manager).get("/keys/")
    assert page.status_code == 200
    assert client.name.encode() in page.content and client.key_prefix.encode() in page.content
    assert key.encode() not in page.content


def test_rotate_shows_the_new_key_once_and_the_old_key_stops_working(manager, api_client_and_key, champion):
    client, old_key = api_client_and_key
    browser = _login(manager)
    token = _csrf(browser.get("/keys/"))
    response = browser.post(f"/keys/{client.pk}/rotate", {"csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200
    new_key = re.search(rb'id="new-api-key">([^<]+)<', response.content).group(1).decode()
    assert new_key.startswith("ftw_") and new_key != old_key
    assert new_key.encode() not in browser.get("/keys/").content  # shown once
    assert _api(old_key).post("/score", event(), format="json").status_code == 401
    assert _api(new_key).post("/score", event(), format="json").status_code == 200
    assert AuditEntry.objects.filter(action="api_key_rotated", actor=manager, object_id=str(client.pk)).exists()


def test_revoked_key_gets_401(manager, api_client_and_key, champion):
    client, key = api_client_and_key
    assert _api(key).post("/score", event(event_id="before"), format="json").status_code == 200
    browser = _login(manager)
    token = _csrf(browser.get("/keys/"))
    browser.post(f"/keys/{client.pk}/revoke", {"csrfmiddlewaretoken": token})
    response = _api(key).post("/score", event(event_id="after"), format="json")
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "API key is unknown or revoked"
    assert b"revoked" in browser.get("/keys/").content
    assert AuditEntry.objects.filter(action="api_key_revoked", actor=manager).exists()


def test_reviewers_get_403_and_change_nothing(reviewer, api_client_and_key, champion):
    client, key = api_client_and_key
    browser = _login(reviewer)
    assert browser.get("/keys/").status_code == 403
    browser_no_csrf = Client()
    browser_no_csrf.login(username=reviewer.username, password=DEMO_PASSWORD)
    assert browser_no_csrf.post(f"/keys/{client.pk}/revoke").status_code == 403
    assert browser_no_csrf.post(f"/keys/{client.pk}/rotate").status_code == 403
    assert _api(key).post("/score", event(), format="json").status_code == 200


def test_a_post_without_csrf_token_is_refused(manager, api_client_and_key):
    client, key = api_client_and_key
    assert _login(manager).post(f"/keys/{client.pk}/revoke").status_code == 403
    client.refresh_from_db()
    assert client.is_active


def test_anonymous_visitors_are_sent_to_login(api_client_and_key):
    response = Client().get("/keys/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_last_use_is_recorded_and_shown(manager, api_client_and_key, champion):
    client, key = api_client_and_key
    assert client.last_used_at is None
    assert _api(key).post("/score", event(event_id="one"), format="json").status_code == 200
    client.refresh_from_db()
    first_use = client.last_used_at
    assert first_use is not None
    _api(key).post("/score", event(event_id="two"), format="json")
    client.refresh_from_db()
    assert client.last_used_at == first_use  # written at most once a minute, not per request
    assert b"never" not in _login(manager).get("/keys/").content


def _register(browser: Client, **fields):
    token = _csrf(browser.get("/keys/"))
    return browser.post("/keys/register", {"csrfmiddlewaretoken": token, **fields}, follow=True)


def _shown_key(page) -> str:
    return re.search(rb'id="new-api-key">([^<]+)<', page.content).group(1).decode()


def test_a_service_registered_on_the_page_gets_a_key_shown_once_that_scores(manager, champion):
    browser = _login(manager)
    response = _register(browser, name="refunds", contact="refunds-oncall@example.com", webhook_url="")
    assert response.status_code == 200
    client = ApiClient.objects.get(name="refunds")
    assert client.kind == ApiClient.Kind.API and client.is_active and client.contact == "refunds-oncall@example.com"
    key = _shown_key(response)
    assert key.startswith(client.key_prefix)
    assert b'id="new-webhook-secret"' not in response.content  # no webhook, no secret to hand over
    assert key.encode() not in browser.get("/keys/").content  # shown once
    assert _api(key).post("/score", event(), format="json").status_code == 200


def test_a_service_with_a_webhook_is_shown_its_signing_secret_once(manager, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["203.0.113.0/24"]  # a documentation range stands in for a receiver
    browser = _login(manager)
    response = _register(browser, name="chargebacks", webhook_url="https://203.0.113.20/fraud-callback")
    client = ApiClient.objects.get(name="chargebacks")
    assert client.webhook_url == "https://203.0.113.20/fraud-callback"
    assert re.search(rb'id="new-webhook-secret">([^<]+)<', response.content).group(1).decode() == client.webhook_secret
    assert client.webhook_secret.encode() not in browser.get("/keys/").content


def test_registering_a_service_is_in_the_audit_log(manager):
    _register(_login(manager), name="refunds")
    client = ApiClient.objects.get(name="refunds")
    entry = AuditEntry.objects.get(action="api_client_created", object_id=str(client.pk))
    assert entry.actor == manager and entry.object_type == "api_client" and entry.detail == {"name": "refunds"}


def test_reviewers_get_403_and_register_nothing(reviewer):
    browser_no_csrf = Client()  # without the CSRF check, only the role stands in the way
    browser_no_csrf.login(username=reviewer.username, password=DEMO_PASSWORD)
    assert browser_no_csrf.post("/keys/register", {"name": "sneaky"}).status_code == 403
    assert not ApiClient.objects.exists()
    assert not AuditEntry.objects.filter(action="api_client_created").exists()


def test_a_registration_without_csrf_token_is_refused(manager):
    assert _login(manager).post("/keys/register", {"name": "refunds"}).status_code == 403
    assert not ApiClient.objects.exists()


@pytest.mark.parametrize(("fields", "field_id", "message"), [
    ({"name": ""}, "id_name", "Service name is required."),
    ({"name": "   "}, "id_name", "Service name is required."),
    ({"name": "x" * 121}, "id_name", "Service name must be at most 120 characters (it has 121)."),
    ({"name": "refunds", "contact": "c" * 201}, "id_contact", "Contact must be at most 200 characters (it has 201)."),
    ({"name": "refunds", "webhook_url": "not a url"}, "id_webhook_url", "Webhook URL must be a full http or https URL."),
    ({"name": "refunds", "webhook_url": "ftp://203.0.113.20/x"}, "id_webhook_url", "Webhook URL: must be an http or https URL."),
    ({"name": "refunds", "webhook_url": "https://10.0.0.5/hook"}, "id_webhook_url", "Webhook URL: 10.0.0.5 is a private"),
])
def test_bad_input_shows_the_form_again_naming_the_field_and_registers_nothing(manager, fields, field_id, message):
    browser = _login(manager)
    response = browser.post("/keys/register", {"csrfmiddlewaretoken": _csrf(browser.get("/keys/")), **fields})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="register-errors"' in page and message in page
    assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*id="{field_id}"|<input[^>]*id="{field_id}"[^>]*aria-invalid="true"', page)
    if fields["name"].strip() and len(fields["name"]) <= 120:
        assert f'value="{fields["name"]}"' in page  # what was typed is kept
    assert not ApiClient.objects.exists()
    assert not AuditEntry.objects.filter(action="api_client_created").exists()


@pytest.mark.django_db(transaction=True)
def test_a_manager_registers_a_service_in_the_browser(page, live_server, manager, api_client_and_key, champion):
    page.goto(f"{live_server.url}/keys/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#clients tbody tr")).to_have_count(1)

    # Blanks pass the browser's "required" but not the server: the form comes back saying why.
    page.fill("#id_name", "   ")
    page.click("#register-form button[type=submit]")
    expect(page.locator("#register-errors")).to_contain_text("Service name is required.")
    expect(page.locator("#id_name")).to_have_attribute("aria-invalid", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "keys-register-refused.png"), full_page=True)
    assert not ApiClient.objects.filter(name__in=["", "   "]).exists()

    page.fill("#id_name", "refunds")
    page.fill("#id_contact", "refunds-oncall@example.com")
    page.click("#register-form button[type=submit]")
    key = page.locator("#new-api-key")
    expect(key).to_have_text(re.compile(r"^ftw_\S{40,}$"))
    expect(page.locator(".new-key")).to_contain_text("New key for refunds")
    expect(page.locator("#register-errors")).to_have_count(0)
    expect(page.locator("#clients tbody tr")).to_have_count(2)
    expect(page.locator("#clients tbody tr", has_text="refunds")).to_contain_text("active")
    page.screenshot(path=str(SCREENSHOTS / "keys-register.png"), full_page=True)

    assert _api(key.inner_text()).post("/score", event(), format="json").status_code == 200
    page.reload()
    expect(page.locator("#new-api-key")).to_have_count(0)  # shown once
    # Chromium logs the refused form's 400 answer; nothing else may be in the console.
    assert page.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
