"""The learning loop (retraining, promotion rule, shadow scoring, drift) and monitoring."""
from __future__ import annotations

from config.env import env_bool, env_float, env_int, env_list, env_str

# Retraining: how often on a schedule, and how many new reviewer decisions start one early.
RETRAIN_INTERVAL_HOURS = env_float("RETRAIN_INTERVAL_HOURS", 24.0)
RETRAIN_MIN_NEW_DECISIONS = env_int("RETRAIN_MIN_NEW_DECISIONS", 500)
# Boosting rounds for a retrained challenger (early stopping usually ends sooner).
RETRAIN_MAX_ROUNDS = env_int("RETRAIN_MAX_ROUNDS", 600)
# The most recent share of labeled events both models are judged on; the challenger never sees their labels.
RETRAIN_HOLDOUT_FRACTION = env_float("RETRAIN_HOLDOUT_FRACTION", 0.15)
# Promotion rule: gain in average precision needed, and how much worse calibration may get.
RETRAIN_MIN_AP_GAIN = env_float("RETRAIN_MIN_AP_GAIN", 0.01)
RETRAIN_BRIER_TOLERANCE = env_float("RETRAIN_BRIER_TOLERANCE", 0.002)
RETRAIN_ECE_TOLERANCE = env_float("RETRAIN_ECE_TOLERANCE", 0.02)
# A run queued or running longer than this is taken as lost (worker died) and may be replaced.
RETRAIN_STALE_MINUTES = env_int("RETRAIN_STALE_MINUTES", 120)
RETRAIN_TIME_LIMIT_SECONDS = env_int("RETRAIN_TIME_LIMIT_SECONDS", 3600)

# Shadow scoring: scores per batch, and how long one run of the task keeps taking batches.
SHADOW_BATCH = env_int("SHADOW_BATCH", 5000)
SHADOW_TASK_SECONDS = env_float("SHADOW_TASK_SECONDS", 12.0)
# The shadow comparison on /models/ looks at this many of the latest shadow scores.
SHADOW_COMPARE_ROWS = env_int("SHADOW_COMPARE_ROWS", 50_000)

# Drift: PSI above this on any feature or on the score raises an alert.
DRIFT_PSI_THRESHOLD = env_float("DRIFT_PSI_THRESHOLD", 0.2)
DRIFT_WINDOW_HOURS = env_float("DRIFT_WINDOW_HOURS", 24.0)
DRIFT_CHECK_MINUTES = env_float("DRIFT_CHECK_MINUTES", 60.0)
# The reference is the last this-many days of (mature) training data.
DRIFT_REFERENCE_DAYS = env_int("DRIFT_REFERENCE_DAYS", 14)
# Too few recent scores make PSI noise; below this the check waits.
DRIFT_MIN_ROWS = env_int("DRIFT_MIN_ROWS", 500)
# Above this many scores in the window, an evenly spread sample of this size is compared.
DRIFT_MAX_ROWS = env_int("DRIFT_MAX_ROWS", 100_000)
# A window shorter than a week never has the reference's weekday mix: no PSI for these.
DRIFT_IGNORED_FEATURES = env_list("DRIFT_IGNORED_FEATURES", ["day_of_week", "is_weekend"])
DRIFT_TRIGGERS_RETRAINING = env_bool("DRIFT_TRIGGERS_RETRAINING", True)
# Optional: POST each new alert as JSON here, signed with HMAC-SHA256 of the body when a secret is set.
DRIFT_WEBHOOK_URL = env_str("DRIFT_WEBHOOK_URL", "")
DRIFT_WEBHOOK_SECRET = env_str("DRIFT_WEBHOOK_SECRET", "")

# /metrics: open to these networks without a token (Prometheus scraping pods directly);
# anything else, and anything that came through a proxy, needs `Authorization: Bearer METRICS_TOKEN`.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list(
    "METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
)
