"""Failed logins are counted per username and per address; too many lock the login out.

A guessed password is the cheapest way into a workbench that can clear fraud, so after
LOGIN_MAX_FAILURES wrong passwords for one username (or LOGIN_MAX_FAILURES_PER_ADDRESS from
one address, for someone trying many usernames) further attempts are refused, even with
the right password, until LOGIN_LOCKOUT_MINUTES have passed or a manager unlocks the
username. Counters live in the cache (Redis in production), so every web worker sees the
same counts; each lockout and unlock is audited.
"""
from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from audit.services import audit_record

_REGISTRY = "login-lockouts"  # username → locked-until (epoch s), for the managers' list


def _user_key(username: str) -> str:
    return f"login-failures:user:{username.strip().lower()}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


def _lockout_seconds() -> int:
    return int(settings.LOGIN_LOCKOUT_MINUTES * 60)


def login_refusal(*, username: str, address: str) -> str | None:
    """Why a login attempt is refused before the password is checked, or None."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    if (cache.get(_user_key(username)) or 0) >= settings.LOGIN_MAX_FAILURES:
        return (f"Too many wrong passwords for this username: logins are paused for {minutes:g} minutes "
                "from the first lockout. A manager can unlock it sooner.")
    if address and (cache.get(_address_key(address)) or 0) >= settings.LOGIN_MAX_FAILURES_PER_ADDRESS:
        return f"Too many failed logins from your network address: try again in {minutes:g} minutes."
    return None


def _count(key: str) -> int:
    cache.add(key, 0, timeout=_lockout_seconds())  # the window starts at the first failure
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_lockout_seconds())
        return 1


def login_failed(*, username: str, address: str) -> None:
    """Count a wrong password; the attempt that reaches a limit locks out and is audited."""
    failures = _count(_user_key(username))
    if failures == settings.LOGIN_MAX_FAILURES:
        locked = dict(cache.get(_REGISTRY) or {})
        locked[username.strip().lower()] = time.time() + _lockout_seconds()
        cache.set(_REGISTRY, locked, timeout=_lockout_seconds())
        audit_record(actor=None, action="login_locked_out", object_type="user", object_id=username[:150],
                     detail={"failures": failures, "address": address, "minutes": settings.LOGIN_LOCKOUT_MINUTES})
    if address and _count(_address_key(address)) == settings.LOGIN_MAX_FAILURES_PER_ADDRESS:
        audit_record(actor=None, action="login_address_locked_out", object_type="address", object_id=address,
                     detail={"failures": settings.LOGIN_MAX_FAILURES_PER_ADDRESS, "last_username": username[:150]})


def login_succeeded(*, username: str) -> None:
    cache.delete(_user_key(username))


def locked_usernames() -> list[dict[str, Any]]:
    """Usernames locked out now, with when the lock ends on its own (epoch seconds)."""
    now = time.time()
    locked = cache.get(_REGISTRY) or {}
    return [{"username": name, "until": until} for name, until in sorted(locked.items())
            if until > now and (cache.get(_user_key(name)) or 0) >= settings.LOGIN_MAX_FAILURES]


def login_unlock(*, username: str, actor: Any) -> bool:
    """A manager lifts a username's lockout (audited). False if it was not locked."""
    name = username.strip().lower()
    was_locked = (cache.get(_user_key(name)) or 0) >= settings.LOGIN_MAX_FAILURES
    cache.delete(_user_key(name))
    locked = dict(cache.get(_REGISTRY) or {})
    if locked.pop(name, None) is not None:
        cache.set(_REGISTRY, locked, timeout=_lockout_seconds())
    if was_locked:
        audit_record(actor=actor, action="login_unlocked", object_type="user", object_id=name)
    return was_locked
