"""Password guessing: wrong passwords lock a username (and an address) out, audited;
a manager sees the lockout and lifts it."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from audit.models import AuditEntry
from tests.support.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.LOGIN_MAX_FAILURES = 5
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 12
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def _logged_in(response) -> bool:
    return response.status_code == 302 and response.url.startswith("/queue")


def test_the_right_password_after_many_wrong_ones_is_refused_with_a_clear_message(reviewer):
    client = Client()
    for _ in range(5):
        assert "Wrong username or password" in _login(client, reviewer.username, "guess").content.decode()
    response = _login(client, reviewer.username, DEMO_PASSWORD)
    assert not _logged_in(response)
    page = response.content.decode()
    assert "Too many wrong passwords" in page and "15 minutes" in page
    entry = AuditEntry.objects.get(action="login_locked_out")
    assert entry.object_id == reviewer.username and entry.detail["failures"] == 5
    # Another person on another username is not affected.
    assert _logged_in(_login(Client(), "nobody-else", "x")) is False


def test_fewer_failures_than_the_limit_then_success_resets_the_count(reviewer):
    client = Client()
    for _ in range(4):
        _login(client, reviewer.username, "guess")
    assert _logged_in(_login(client, reviewer.username, DEMO_PASSWORD))
    for _ in range(4):
        _login(Client(), reviewer.username, "guess")
    assert _logged_in(_login(Client(), reviewer.username, DEMO_PASSWORD))
    assert not AuditEntry.objects.filter(action="login_locked_out").exists()


def test_one_address_trying_many_usernames_is_paused(reviewer):
    client = Client()
    for index in range(12):
        _login(client, f"user-{index}", "guess")
    response = _login(client, reviewer.username, DEMO_PASSWORD)
    assert not _logged_in(response)
    assert "from your network address" in response.content.decode()
    assert AuditEntry.objects.filter(action="login_address_locked_out", object_id="127.0.0.1").exists()


def test_a_manager_sees_the_lockout_and_unlocks_it_audited(reviewer, manager):
    for _ in range(5):
        _login(Client(), reviewer.username, "guess")
    desk = Client()
    assert _logged_in(_login(desk, manager.username, DEMO_PASSWORD))
    page = desk.get("/keys/").content.decode()
    assert reviewer.username in page.split("Locked-out logins", 1)[1]
    desk.post("/keys/unlock-login", {"username": reviewer.username})
    assert "No login is locked out" in desk.get("/keys/").content.decode()
    assert AuditEntry.objects.get(action="login_unlocked").actor == manager
    assert _logged_in(_login(Client(), reviewer.username, DEMO_PASSWORD))


def test_only_managers_unlock(reviewer, second_reviewer):
    for _ in range(5):
        _login(Client(), second_reviewer.username, "guess")
    desk = Client()
    assert _logged_in(_login(desk, reviewer.username, DEMO_PASSWORD))
    assert desk.post("/keys/unlock-login", {"username": second_reviewer.username}).status_code == 403
    assert not _logged_in(_login(Client(), second_reviewer.username, DEMO_PASSWORD))
