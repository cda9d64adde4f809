"""How callbacks are signed, and how a receiver verifies them.

Each request carries

    X-Webhook-Timestamp: 1763906700            (Unix seconds when it was sent)
    X-Webhook-Signature: sha256=<hex digest>

where the digest is HMAC-SHA256, keyed with the client's webhook secret, over the bytes
`<timestamp>.` followed by the raw request body. To verify, a receiver recomputes the
digest over the body exactly as received (before parsing JSON), compares it in constant
time, and rejects timestamps older than a few minutes so a captured request cannot be
replayed later. `verify_signature` below is that check.
"""
from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify_signature(
    *, secret: str, body: bytes, timestamp: str, signature_header: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None,
) -> bool:
    """True when the signature matches the body and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = now if now is not None else time.time()
    if abs(current - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signature_header or "")
