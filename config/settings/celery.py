"""Celery: Redis as broker when REDIS_URL is set; otherwise tasks run in-process."""
from __future__ import annotations

from celery.schedules import crontab

from config.env import env_bool, env_float, env_int, env_str

_REDIS_URL = env_str("REDIS_URL", "")

# Without REDIS_URL no broker is used: eager tasks never publish. Celery still opens a
# producer on the in-memory transport to serialize eager arguments, and a URL without a
# host makes kombu warn "No hostname was supplied" on every process's first task.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", _REDIS_URL or "memory://localhost/")
# Without a broker there is nobody to hand work to, so run tasks where they are called.
CELERY_TASK_ALWAYS_EAGER = not bool(_REDIS_URL or env_str("CELERY_BROKER_URL", ""))
# With eager tasks an accepted /score job (async mode, large batches) would be scored inside
# the request that accepted it, so the 202 would come only once it is done: run it in a
# background thread of the web process instead (scoring.tasks). Tests that flip eager mode
# at run time keep scoring jobs on the spot unless they turn this on.
SCORE_JOBS_IN_THREAD_WHEN_EAGER = env_bool("SCORE_JOBS_IN_THREAD_WHEN_EAGER", CELERY_TASK_ALWAYS_EAGER)
# Likewise SHAP explanations: computed in the request they would make the demo's first
# /score take a second; the publisher's thread computes them just after the answer.
EXPLAIN_IN_THREAD_WHEN_EAGER = env_bool("EXPLAIN_IN_THREAD_WHEN_EAGER", CELERY_TASK_ALWAYS_EAGER)
WEBHOOKS_IN_THREAD_WHEN_EAGER = env_bool("WEBHOOKS_IN_THREAD_WHEN_EAGER", CELERY_TASK_ALWAYS_EAGER)
CELERY_TASK_EAGER_PROPAGATES = False
# Results live in PostgreSQL rows (scores, explanations), never in the result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "fraud")
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
# /score must answer even when Redis is down: fail fast on publish, a sweep catches up later.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 0.5)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # With acks late, a task whose worker dies stays unacknowledged in Redis and is handed to
    # another worker after this long. Longer than any task may run (CELERY_TASK_TIME_LIMIT),
    # so a slow task is never run twice at once; a score job whose worker died is picked up
    # much sooner by its own lease (SCORE_JOB_LEASE_SECONDS, sweep-queued-score-jobs).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_connect_timeout": 0.5,
    "socket_timeout": 2,
    "max_retries": 1,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The whole beat schedule, one commented entry per job.
CELERY_BEAT_SCHEDULE = {
    # Explanations whose task was never enqueued (broker down) or was lost get re-queued.
    "sweep-pending-explanations": {
        "task": "scoring.tasks.sweep_pending_explanations",
        "schedule": 60.0,
    },
    # Retrain on a schedule (the learning loop judges whether the challenger is promoted).
    "retrain-scheduled": {
        "task": "learning.tasks.retrain_scheduled",
        "schedule": env_float("RETRAIN_INTERVAL_HOURS", 24.0) * 3600,
    },
    # Retrain early once enough reviewer decisions arrived since the last run.
    "retrain-if-enough-decisions": {
        "task": "learning.tasks.retrain_if_enough_decisions",
        "schedule": 600.0,
    },
    # Score newly stored events with a challenger in shadow mode, off the /score path.
    "shadow-score": {
        "task": "learning.tasks.shadow_score",
        "schedule": 15.0,
    },
    # PSI of every feature and of the score, recent window against the champion's training data.
    "drift-check": {
        "task": "learning.tasks.drift_check",
        "schedule": env_float("DRIFT_CHECK_MINUTES", 60.0) * 60,
    },
    # The live high tier's pace against the team's capacity, each hour just after it ends.
    "tier-watch": {
        "task": "learning.tasks.tier_watch",
        "schedule": crontab(minute=2),
    },
    # Indexes a killed bulk import or batch-scoring run left out are rebuilt.
    "restore-bulk-indexes": {
        "task": "scoring.tasks.restore_bulk_indexes",
        "schedule": 600.0,
    },
    # Webhook callbacks whose task was never enqueued (broker down) are queued again.
    "sweep-pending-webhooks": {
        "task": "webhooks.tasks.sweep_pending_deliveries",
        "schedule": 60.0,
    },
    # Asynchronous /score jobs accepted while the broker was down are queued again.
    "sweep-queued-score-jobs": {
        "task": "scoring.tasks.sweep_queued_score_jobs",
        "schedule": 60.0,
    },
    # Snoozed cases whose time has come are open again.
    "wake-snoozed-cases": {
        "task": "triage.tasks.wake_snoozed_cases",
        "schedule": 60.0,
    },
    # Round-robin assignment to the reviewers on shift (AUTO_ASSIGN_TIERS; off when empty).
    "assign-open-cases": {
        "task": "triage.tasks.assign_open_cases",
        "schedule": 60.0,
    },
    # The day's groups of accounts linked by devices / IPs (ring size), at midnight UTC:
    # the day's first requests then find them or wait for them (a few seconds at 1 M events
    # stored) on the advisory lock instead of computing them.
    "compute-link-groups": {
        "task": "scoring.tasks.compute_link_groups",
        "schedule": crontab(minute=0, hour=0),
    },
}
