"""API clients: creation, key rotation and revocation. Raw keys are shown once, never stored."""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiClient
from audit.services import audit_record

KEY_PREFIX = "ftw_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def api_client_create(
    *, name: str, webhook_url: str = "", contact: str = "", actor: Any = None, raw_key: str | None = None
) -> tuple[ApiClient, str]:
    """Register a client; returns it and its raw API key (the only time the key is visible).

    `raw_key` lets deployment scripts install a key they generated themselves.
    """

    key = raw_key or _new_key()
    with transaction.atomic():
        client = ApiClient.objects.create(
            name=name,
            webhook_url=webhook_url,
            contact=contact,
            webhook_secret=secrets.token_hex(32),
            key_prefix=key[:10],
            key_hash=hash_key(key),
        )
        audit_record(actor=actor, action="api_client_created", object_type="api_client", object_id=str(client.pk),
                     detail={"name": name})
    return client, key


def api_client_rotate_key(*, client: ApiClient, actor: Any = None) -> str:

    key = _new_key()
    with transaction.atomic():
        client.key_prefix = key[:10]
        client.key_hash = hash_key(key)
        client.save(update_fields=["key_prefix", "key_hash"])
        audit_record(actor=actor, action="api_key_rotated", object_type="api_client", object_id=str(client.pk))
    forget_cached_keys()
    return key


def api_client_revoke(*, client: ApiClient, actor: Any = None) -> None:

    with transaction.atomic():
        client.is_active = False
        client.save(update_fields=["is_active"])
        audit_record(actor=actor, action="api_key_revoked", object_type="api_client", object_id=str(client.pk))
    forget_cached_keys()


def import_source_get_or_create(*, name: str) -> ApiClient:
    """The sender that imported or generated history belongs to. It has no key: nobody can
    call the API as it."""
    client, _ = ApiClient.objects.get_or_create(name=name, kind=ApiClient.Kind.IMPORT, defaults={"is_active": False})
    return client


# Verified keys per process: {key digest: (client, monotonic time it was read)}.
_key_cache: dict[str, tuple[ApiClient, float]] = {}
_key_cache_lock = threading.Lock()


def api_client_for_key(raw_key: str) -> ApiClient | None:
    """The active API client owning this key, or None.

    A process remembers the answer for API_CLIENT_CACHE_SECONDS so /score does not read
    the clients table on every request; revoking or rotating a key therefore takes effect
    in every process within that many seconds (immediately in the process that did it).
    Unknown keys are not remembered, so a newly registered key works at once.
    """
    if not raw_key.startswith(KEY_PREFIX):
        return None
    digest = hash_key(raw_key)
    now = time.monotonic()
    cached = _key_cache.get(digest)
    if cached is not None and now - cached[1] < settings.API_CLIENT_CACHE_SECONDS:
        return cached[0]
    client = ApiClient.objects.filter(key_hash=digest, is_active=True, kind=ApiClient.Kind.API).first()
    with _key_cache_lock:
        if client is None:
            _key_cache.pop(digest, None)
        else:
            _key_cache[digest] = (client, now)
    return client


def forget_cached_keys() -> None:
    with _key_cache_lock:
        _key_cache.clear()


def api_client_touch(client: ApiClient) -> None:
    """Record that the client called the API, at most once per API_CLIENT_TOUCH_SECONDS."""
    now = timezone.now()
    last = client.last_used_at
    if last is not None and (now - last).total_seconds() < settings.API_CLIENT_TOUCH_SECONDS:
        return
    client.last_used_at = now
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
