"""The scoring service: key caching, asynchronous jobs, explanation publishing, webhooks."""
from __future__ import annotations

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from config.env import env_float, env_int, env_list

# A web process remembers a verified API key this long; a revoked or rotated key stops
# working in every process within this many seconds (at once in the one that revoked it).
API_CLIENT_CACHE_SECONDS = env_float("API_CLIENT_CACHE_SECONDS", 5.0)
# `last_used_at` of a client is written at most this often per process.
API_CLIENT_TOUCH_SECONDS = env_float("API_CLIENT_TOUCH_SECONDS", 60.0)
# Explanation ids are published by a background thread that gathers this long first;
# a negative value publishes inside the request. Each publish costs the web process about
# a millisecond of CPU: gathering 200 ms turns 100 requests/s into 5 publishes a second per
# process, and a reviewer never opens a case within 200 ms of its scoring.
EXPLAIN_PUBLISH_DELAY_MS = env_int("EXPLAIN_PUBLISH_DELAY_MS", 200)
# The sweep re-queues explanations still pending this long after scoring (their task
# was never published, e.g. the broker was down, or was lost).
EXPLAIN_SWEEP_AFTER_SECONDS = env_float("EXPLAIN_SWEEP_AFTER_SECONDS", 30.0)
# The sweep re-queues asynchronous jobs still queued this long after they were accepted.
SCORE_JOB_SWEEP_AFTER_SECONDS = env_float("SCORE_JOB_SWEEP_AFTER_SECONDS", 60.0)
# A running job's worker touches it after every chunk (1,000 events take a second or two);
# one untouched this long lost its worker and the sweep queues it again, to resume.
SCORE_JOB_LEASE_SECONDS = env_float("SCORE_JOB_LEASE_SECONDS", 120.0)
# A batch with more events than this is accepted (202) and scored by the workers.
SCORE_ASYNC_OVER = env_int("SCORE_ASYNC_OVER", 1000)
# The largest batch an asynchronous job takes.
SCORE_MAX_ASYNC_BATCH = env_int("SCORE_MAX_ASYNC_BATCH", 5000)

# Webhooks: each attempt waits at most this long for the receiver.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Attempts per callback before it is marked failed; waits grow base × 2^n with jitter.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)
# Callbacks go to public addresses only; these networks (CIDR, comma-separated) are allowed
# besides, e.g. "10.20.0.0/16" for a receiver inside the same private network, or
# "127.0.0.0/8" on a developer's machine. See webhooks/destinations.py.
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network ({_exc})") from None
