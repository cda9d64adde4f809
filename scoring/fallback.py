"""The scorer used when no model can be loaded, so /score keeps answering.

A handful of transparent rules over the same online features, each adding to a base
probability. It ranks far worse than a trained model, and every score it makes says so:
its `model_version` is FALLBACK_VERSION. Thresholds are fixed.
"""
from __future__ import annotations

import math
from typing import Mapping

FALLBACK_VERSION = "fallback-rules-v1"
THRESHOLDS = {"medium": 0.3, "high": 0.6}
BASE_PROBABILITY = 0.02

# (feature, test, added probability, reason)
RULES = (
    ("device_is_new", lambda v: v >= 1, 0.15, "device not seen on this account in 30 days"),
    ("ip_is_new", lambda v: v >= 1, 0.10, "IP address not seen on this account in 30 days"),
    ("failed_payments_24h", lambda v: v >= 3, 0.25, "3 or more failed payments in 24 hours"),
    ("amount_zscore_30d", lambda v: v >= 3, 0.20, "amount far above the account's normal"),
    ("travel_speed_kmh", lambda v: v >= 900, 0.25, "impossible travel since the previous event"),
    ("events_1h", lambda v: v >= 20, 0.15, "burst of activity in the last hour"),
)


def fallback_probability(features: Mapping[str, float]) -> tuple[float, list[str]]:
    probability = BASE_PROBABILITY
    reasons = []
    for name, test, weight, reason in RULES:
        value = features.get(name)
        if value is not None and not math.isnan(value) and test(value):
            probability += weight
            reasons.append(reason)
    return min(probability, 0.99), reasons
