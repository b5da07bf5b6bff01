"""Population Stability Index: how far a day's inputs (or scores) moved from what a version was trained on.

For bins i = 1..k with reference proportions e_i (the training data) and current proportions a_i (a day's
traffic), each floored at ε so an empty bin stays finite:

    PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)

Every term is ≥ 0 (a − e and ln(a/e) share their sign), so PSI ≥ 0, and PSI = 0 exactly when the binned
distributions are equal. Customary reading: < 0.1 stable, 0.1–0.25 watch, ≥ 0.25 alert (``Settings``).

Bins: numeric features by the training data's quantiles (``quantile_edges``: deciles, repeated cut points
merged, so a discrete feature gets one bin per value range), right-closed — bin j holds edges[j-1] < x ≤
edges[j]; categorical (and boolean) features by category, plus one "(other)" bin for values the reference
never saw. A text is binned by its length in characters.

Sampling noise alone makes PSI positive: with k bins and n current rows, n·PSI is roughly χ² with k − 1
degrees of freedom when nothing moved, so the PSI expected by chance is about (k − 1) / n
(``noise_floor``): 0.09 for 10 bins and 100 rows. That is why a day needs a minimum sample before it alerts.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["EPSILON", "OTHER", "bin_counts", "category_counts", "category_of", "drift_level", "noise_floor",
           "proportions", "psi", "quantile_edges"]

EPSILON = 1e-4
"""The floor of a bin's proportion: an empty bin adds a large, finite term instead of an infinite one."""
OTHER = "(other)"
QUANTILE_BINS = 10


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Σ (a − e)·ln(a / e) over the bins, each proportion floored at ``epsilon`` (module docstring)."""
    if len(expected) != len(actual):
        raise ValueError(f"psi: {len(expected)} reference bins but {len(actual)} current bins")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, epsilon), max(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def proportions(counts: Sequence[int]) -> list[float]:
    """Counts → shares of their total (all zero when there is nothing)."""
    n = sum(counts)
    return [c / n if n else 0.0 for c in counts]


def quantile_edges(values: Iterable[float], bins: int = QUANTILE_BINS) -> list[float]:
    """The interior cut points of ``bins`` equal-count bins of ``values``: the values at which the running
    share reaches 1/bins, 2/bins, … (nearest rank, so a discrete input cuts at its own values), repeats merged,
    the maximum left out (a top bin that training never fills would only measure noise)."""
    data = sorted(float(v) for v in values)
    n = len(data)
    if n == 0:
        return []
    cuts = {data[max(0, math.ceil(i * n / bins) - 1)] for i in range(1, bins)}
    return sorted(cuts - {data[-1]})


def bin_counts(edges: Sequence[float], values: Iterable[float]) -> list[int]:
    """How many values fall in each right-closed bin of ``edges`` (len(edges) + 1 bins)."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect_left(edges, float(v))] += 1
    return counts


def category_counts(categories: Sequence[str], values: Iterable[Any]) -> list[int]:
    """How many values are each category, then how many are none of them (the "(other)" bin)."""
    index = {c: i for i, c in enumerate(categories)}
    counts = [0] * (len(categories) + 1)
    for v in values:
        counts[index.get(category_of(v), len(categories))] += 1
    return counts


def category_of(value: Any) -> str:
    """The category a raw value counts as: booleans as "true"/"false" (JSON's spelling), others as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def noise_floor(bins: int, n: int) -> float:
    """The PSI sampling alone gives, on average, for ``n`` rows in ``bins`` bins when nothing moved."""
    return (bins - 1) / n if n else math.inf


def drift_level(value: float | None, n: int, *, watch: float, alert: float, min_sample: int) -> str:
    """ "no data", "too few" (fewer than ``min_sample`` rows: noise, never alerted), "stable", "watch" or "alert"."""
    if value is None or n == 0:
        return "no data"
    if n < min_sample:
        return "too few"
    if value >= alert:
        return "alert"
    return "watch" if value >= watch else "stable"
