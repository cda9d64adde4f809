"""Per-client rate limits for the service API, with the limit's state in response headers.

A fixed window per client (e.g. 6000 requests per minute), counted in the shared cache
(Redis) with one INCR per request. DRF's stock throttle keeps a list of every request
time in the cache and rewrites it on each call, which costs more than scoring an event
at high rates. Every answer carries

    X-RateLimit-Limit      requests allowed per window
    X-RateLimit-Remaining  requests left in the current window
    X-RateLimit-Reset      seconds until the window resets

and a 429 answer also carries `Retry-After` (seconds). If the cache is unreachable the
request is allowed: scoring must keep answering when Redis is down.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiClient

log = logging.getLogger(__name__)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def parse_rate(rate: str) -> tuple[int, int]:
    """'6000/min' -> (6000, 60)."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period.strip()[0]]


_redis_client = None


def _redis():
    """One Redis client per process. (Django's cache builds a new client object on every
    call, which costs more CPU than the rest of the rate check.)"""
    global _redis_client
    if _redis_client is None and settings.REDIS_URL:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    return _redis_client


def _count_request(key: str, ttl: int) -> int:
    """Add one to the window's counter and return it: one round trip on Redis."""
    client = _redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])
    cache.add(key, 0, timeout=ttl)
    return int(cache.incr(key))


class ApiClientRateThrottle(BaseThrottle):
    """Requests per API client (not per IP: many clients sit behind one NAT)."""

    scope = "api_client"

    def __init__(self) -> None:
        self.limit, self.period = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[self.scope])
        self.state: RateLimitState | None = None

    def allow_request(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return True
        now = time.time()
        window = int(now // self.period)
        reset = max(1, math.ceil((window + 1) * self.period - now))
        try:
            count = _count_request(f"fraud:ratelimit:{self.scope}:{client.pk}:{window}", self.period + 1)
        except Exception as exc:  # cache down: never refuse service because of the limiter
            log.warning("rate limiter unavailable, allowing the request: %s", exc)
            return True
        self.state = RateLimitState(self.limit, max(0, self.limit - count), reset)
        request.rate_limit = self.state
        return count <= self.limit

    def wait(self) -> float | None:
        return float(self.state.reset_seconds) if self.state else None


class RateLimitHeadersMixin:
    """Adds the X-RateLimit-* headers of the request's throttle to every response."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        state = getattr(request, "rate_limit", None)
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return response
