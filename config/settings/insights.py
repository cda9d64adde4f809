"""Managers' dashboards: refresh cadence, ROI defaults and the account risk criteria.

The criteria are documented in docs/insights.md; each can be tuned per deployment.
"""
from __future__ import annotations

from config.env import env_float, env_int

# ROI defaults until a manager edits them on the dashboard (then the stored values win).
INSIGHTS_FRICTION_COST = env_float("INSIGHTS_FRICTION_COST", 15.0)  # per good customer held up by a review

# Account risk points (see docs/insights.md, "Account risk segments").
INSIGHTS_HIGH_SCORE = env_int("INSIGHTS_HIGH_SCORE", 80)  # a risk score at or above this counts as a high-risk event
INSIGHTS_MANY_FAILED_PAYMENTS = env_int("INSIGHTS_MANY_FAILED_PAYMENTS", 3)
INSIGHTS_MANY_DEVICES = env_int("INSIGHTS_MANY_DEVICES", 4)
INSIGHTS_MEDIUM_POINTS = env_int("INSIGHTS_MEDIUM_POINTS", 2)
INSIGHTS_HIGH_POINTS = env_int("INSIGHTS_HIGH_POINTS", 4)

# Off-boarding: any one of these qualifies an account.
INSIGHTS_OFFBOARD_CONFIRMED_FRAUDS = env_int("INSIGHTS_OFFBOARD_CONFIRMED_FRAUDS", 2)
INSIGHTS_OFFBOARD_RING_LINKS = env_int("INSIGHTS_OFFBOARD_RING_LINKS", 3)
INSIGHTS_OFFBOARD_HIGH_EVENTS = env_int("INSIGHTS_OFFBOARD_HIGH_EVENTS", 3)
INSIGHTS_OFFBOARD_FAILED_PAYMENTS = env_int("INSIGHTS_OFFBOARD_FAILED_PAYMENTS", 6)

# How many dirty hours one refresh run recomputes at most (the rest wait for the next run).
INSIGHTS_REFRESH_BATCH_HOURS = env_int("INSIGHTS_REFRESH_BATCH_HOURS", 500)

# Beat entries for the dashboards (added to the schedule declared in config/settings/celery.py).
from config.settings.celery import CELERY_BEAT_SCHEDULE as _SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    **_SCHEDULE,
    # Recompute the hourly rollups of hours that changed (new events, scores, decisions).
    "insights-refresh-rollups": {"task": "insights.tasks.refresh_rollups", "schedule": 30.0},
    # Re-segment accounts; a full pass, cheap next to the rollups' freshness needs.
    "insights-refresh-account-risk": {"task": "insights.tasks.refresh_account_risk", "schedule": 900.0},
}
# A device or IP shared by more accounts than this is a public network, not a ring link.
INSIGHTS_MAX_SHARED_ACCOUNTS = env_int("INSIGHTS_MAX_SHARED_ACCOUNTS", 50)
# "Mostly high risk": at least this share of an account's events are high risk.
INSIGHTS_HIGH_SHARE = env_float("INSIGHTS_HIGH_SHARE", 0.5)
# One refresh run keeps taking batches of dirty hours for at most this many seconds.
INSIGHTS_REFRESH_SECONDS = env_float("INSIGHTS_REFRESH_SECONDS", 20.0)
