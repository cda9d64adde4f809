"""Product settings: where models live, how tiers are cut, what reviews cost."""
from __future__ import annotations

from pathlib import Path

from config.env import env_float, env_int, env_list, env_str

MODEL_DIR = Path(env_str("MODEL_DIR", str(Path(__file__).resolve().parents[2] / "var" / "models")))

# How many cases the team can review per day; the high tier is cut to roughly this many.
REVIEWER_CAPACITY_PER_DAY = env_int("REVIEWER_CAPACITY_PER_DAY", 100)
# The medium tier is this many times the high tier's daily volume.
MEDIUM_TIER_MULTIPLE = env_float("MEDIUM_TIER_MULTIPLE", 4.0)
# What the tiers mean whatever the capacity: an event is high only with at least this
# calibrated probability of fraud, medium with at least this one.
HIGH_TIER_MIN_PROBABILITY = env_float("HIGH_TIER_MIN_PROBABILITY", 0.30)
MEDIUM_TIER_MIN_PROBABILITY = env_float("MEDIUM_TIER_MIN_PROBABILITY", 0.05)
# The live watch alerts when the last hour's high tier, at that pace for a day, is more
# than this many times the team's daily capacity.
TIER_ALERT_MULTIPLE = env_float("TIER_ALERT_MULTIPLE", 2.0)
REVIEW_COST = env_float("REVIEW_COST", 5.0)
# Expected loss of an event without an amount (logins, sign-ups).
DEFAULT_EVENT_VALUE = env_float("DEFAULT_EVENT_VALUE", 50.0)
# Money figures (expected loss, the queue order, dashboard sums, ROI) are in this currency;
# other currencies are converted at the dated rates loaded with `load_rates`.
REPORTING_CURRENCY = env_str("REPORTING_CURRENCY", "USD").upper()
# How long a process keeps its rate table before reading it again.
RATES_REFRESH_SECONDS = env_float("RATES_REFRESH_SECONDS", 60.0)
# Event types /score and imports accept (comma-separated in the environment); others are a 400.
EVENT_TYPES = env_list("EVENT_TYPES", ["login", "signup", "payment", "purchase", "claim"])
SCORE_MAX_BATCH = env_int("SCORE_MAX_BATCH", 1000)
SCORE_MAX_BODY_BYTES = env_int("SCORE_MAX_BODY_BYTES", 2_000_000)
# A request body announced by Content-Length (up to SCORE_MAX_BODY_BYTES) must arrive within
# this many seconds, or the request is answered 400 (config/wsgi.py): a client whose body
# is shorter than it said would otherwise hold a web worker until the worker timeout.
REQUEST_BODY_SECONDS = env_float("REQUEST_BODY_SECONDS", 10.0)
# Registration of a new API client needs this token (or a logged-in manager).
ENROLLMENT_TOKEN = env_str("ENROLLMENT_TOKEN", "")
# How long the process keeps the champion model before checking for a newer one.
MODEL_CACHE_SECONDS = env_float("MODEL_CACHE_SECONDS", 5.0)
# How long a process keeps its compiled lists and rules before checking for a change (a
# change made in the process itself applies at once).
RULES_REFRESH_SECONDS = env_float("RULES_REFRESH_SECONDS", 5.0)
# A rule backtest reads at most this many stored events (the most recent of the period).
RULES_BACKTEST_MAX_EVENTS = env_int("RULES_BACKTEST_MAX_EVENTS", 2_000_000)
# Reviewer workbench: how long "Next case" holds a case for one reviewer, how long a decision
# can be undone, how far back and how wide the linked-accounts network reaches, and where
# queue counts stop being exact ("10,000+") so counting never scans millions of rows.
CLAIM_SECONDS = env_int("CLAIM_SECONDS", 600)
UNDO_SECONDS = env_int("UNDO_SECONDS", 30)
NETWORK_DAYS = env_int("NETWORK_DAYS", 90)
NETWORK_MAX_NODES = env_int("NETWORK_MAX_NODES", 60)
QUEUE_COUNT_CAP = env_int("QUEUE_COUNT_CAP", 10000)
# With filters set, the tabs count the matching cases up to this ("1,000+"): each match is
# found through a join, and past a thousand the number no longer changes what a reviewer does.
QUEUE_FILTERED_COUNT_CAP = env_int("QUEUE_FILTERED_COUNT_CAP", 1000)
BULK_MAX_CASES = env_int("BULK_MAX_CASES", 200)
# Service levels: an open case is due this many hours after its event happened (the event's
# own time, so a late-arriving backfill is as overdue as it is), per tier; "due soon" is the
# last quarter of that time. The queue shows each case's due time; the dashboard counts breaches.
CASE_SLA_HOURS = {
    "high": env_float("CASE_SLA_HOURS_HIGH", 4.0),
    "medium": env_float("CASE_SLA_HOURS_MEDIUM", 24.0),
    "low": env_float("CASE_SLA_HOURS_LOW", 72.0),
}
# A ring decision from the network view decides at most this many open cases at once.
RING_MAX_CASES = env_int("RING_MAX_CASES", 500)
# Round-robin assignment: every minute, unassigned open cases of these tiers (comma-separated,
# e.g. "high,medium") go to the reviewers on shift, least loaded first. Empty: off, reviewers
# take cases from the queue themselves.
AUTO_ASSIGN_TIERS = env_list("AUTO_ASSIGN_TIERS", [])
