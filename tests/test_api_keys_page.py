"""Managers list, rotate and revoke API keys in the app; every change is audited."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import DEMO_PASSWORD, event
from triage.models import AuditEntry

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
