"""Small statistics for the dashboards: confidence intervals, PSI, percentiles, ROI.

Plain functions over numbers and numpy arrays; no Django.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95 % by default) for a proportion successes / trials.

    Returns (low, high) in 0–1; (0, 1) when there are no trials: nothing is known.
    Behaves well for small counts and rates near 0, unlike the normal approximation.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100, linear interpolation) or None for no values."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype="float64"), q))


def roi_figures(
    *, caught_amount: float, caught_unpriced: int, reviews: int, false_positives: int,
    cost_per_review: float, friction_cost_per_false_positive: float, value_of_unpriced_event: float,
) -> dict[str, float | None]:
    """Money stopped, costs, net savings and ROI of the review operation (currency units).

    money stopped = amount of confirmed fraud reviewers caught (+ a set value per caught
    event without an amount); review cost = reviews × cost per review; friction = cleared
    (false positive) cases × friction cost; net = stopped − review − friction;
    ROI = net / (review + friction), None when there was no cost.
    """
    money_stopped = caught_amount + caught_unpriced * value_of_unpriced_event
    review_cost = reviews * cost_per_review
    friction_cost = false_positives * friction_cost_per_false_positive
    net = money_stopped - review_cost - friction_cost
    cost = review_cost + friction_cost
    return {
        "money_stopped": round(money_stopped, 2),
        "review_cost": round(review_cost, 2),
        "friction_cost": round(friction_cost, 2),
        "net_savings": round(net, 2),
        "roi": None if cost == 0 else round(net / cost, 4),
    }
