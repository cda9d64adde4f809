"""Population stability index: how far a recent distribution moved from a reference one (feature
drift checks and the dashboard's score drift both use it).

Reference values are cut into quantile bins once (edges stored as JSON); later windows are
counted into the same bins. Missing values get a bin of their own, so a feature that starts
arriving empty drifts too. No Django here.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

BINS = 10
# Empty bins would make the logarithm infinite; shares are floored at this.
SHARE_FLOOR = 1e-4


def reference_bins(values: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Quantile edges of the finite reference values and the share of rows in each bin.

    Returns {"edges": [e1..ek], "shares": [s_0..s_k, s_missing]}: bin i holds values in
    (e_i, e_{i+1}], the first bin everything up to e1, the last everything above ek, and the
    final share is for missing values. Discrete features get one bin per value.
    """
    values = np.asarray(values, dtype="float64")
    finite = values[np.isfinite(values)]
    if len(finite):
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    else:
        edges = np.array([], dtype="float64")
    return {"edges": edges.tolist(), "shares": bin_shares(values, edges.tolist())}


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of `values` in each bin defined by `edges`, missing values last."""
    values = np.asarray(values, dtype="float64")
    if len(values) == 0:
        return [0.0] * (len(edges) + 2)
    finite = np.isfinite(values)
    index = np.searchsorted(np.asarray(edges, dtype="float64"), values[finite], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype("float64")
    counts = np.append(counts, float((~finite).sum()))
    return (counts / len(values)).tolist()


def psi(reference: Sequence[float], recent: Sequence[float]) -> float:
    """Σ (recent − reference) · ln(recent / reference) over the same bins. Below 0.1 is stable,
    above 0.2 has moved.

    Either side may be counts or shares per bin: each is turned into shares (a side with no
    count at all stays all-empty), and shares are floored at SHARE_FLOOR so the logarithm
    stays finite.
    """
    def shares(values: Sequence[float]) -> np.ndarray:
        array = np.asarray(values, dtype="float64")
        total = array.sum()
        return np.maximum(array / total if total > 0 else array, SHARE_FLOOR)

    ref, new = shares(reference), shares(recent)
    return float(np.sum((new - ref) * np.log(new / ref)))


def psi_against(reference: dict[str, Any], values: np.ndarray) -> float:
    """PSI of `values` against one stored reference (as made by `reference_bins`)."""
    return psi(reference["shares"], bin_shares(values, reference["edges"]))
