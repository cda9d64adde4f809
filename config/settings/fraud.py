"""Product settings: where models live, how tiers are cut, what reviews cost."""
from __future__ import annotations

from pathlib import Path

from config.env import env_float, env_int, env_str

MODEL_DIR = Path(env_str("MODEL_DIR", str(Path(__file__).resolve().parents[2] / "var" / "models")))

# How many cases the team can review per day; the high tier is cut to roughly this many.
REVIEWER_CAPACITY_PER_DAY = env_int("REVIEWER_CAPACITY_PER_DAY", 100)
# The medium tier is this many times the high tier's daily volume.
MEDIUM_TIER_MULTIPLE = env_float("MEDIUM_TIER_MULTIPLE", 4.0)
REVIEW_COST = env_float("REVIEW_COST", 5.0)
# Expected loss of an event without an amount (logins, sign-ups).
DEFAULT_EVENT_VALUE = env_float("DEFAULT_EVENT_VALUE", 50.0)
SCORE_MAX_BATCH = env_int("SCORE_MAX_BATCH", 1000)
SCORE_MAX_BODY_BYTES = env_int("SCORE_MAX_BODY_BYTES", 2_000_000)
# Registration of a new API client needs this token (or a logged-in manager).
ENROLLMENT_TOKEN = env_str("ENROLLMENT_TOKEN", "")
# How long the process keeps the champion model before checking for a newer one.
MODEL_CACHE_SECONDS = env_float("MODEL_CACHE_SECONDS", 5.0)
