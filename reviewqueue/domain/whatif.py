"""Threshold what-if: what a candidate routing policy would have done to recent traffic (pure, standard library).

Given candidate thresholds ``low ≤ high`` (``RoutingPolicy``: ``s ≥ high`` → auto-flag, ``low ≤ s < high`` →
review, ``s < low`` → auto-pass):

**Volumes** come from every champion prediction of the window, as a histogram of scores in ``BINS`` bins
(bin ``b`` holds ``b/BINS ≤ s < (b+1)/BINS``; a threshold is read at bin resolution, rounded down to the grid):
``auto_flag/day = #{s ≥ high} / days``, ``review/day = #{low ≤ s < high} / days``,
``auto_pass/day = #{s < low} / days``, and ``audits/day = audit_fraction × (auto_flag + auto_pass)/day``
(audited auto-decisions reach a human too).

**Quality** comes from the labelled predictions of the window. Labels are not a random sample (the review band is
labelled for certain, auto-decisions only by the audit or the learning draw), so label ``i`` (``y_i = 1`` for the
positive verdict) is weighted by ``w_i = 1/π_i`` — π the probability it was selected (``domain.sampling``; missing
or ≤ 0 → 1) — capped at ``WEIGHT_CAP × median(w)`` as ``evaluation.label_weights`` caps it. Reviewers are taken to
decide the review band right, so:

- ``recall = Σ w·y·[s ≥ low] / Σ w·y`` — the share of positives the routing catches (auto-flagged or put in front
  of a person) rather than auto-passing;
- ``precision = Σ w·y·[s ≥ high] / Σ w·[s ≥ high]`` — the share of auto-flags that are right (the model's
  positive verdicts that no person checks first);
- ``missed = Σ w·y·[s < low] / Σ w·[s < low]`` — the share of auto-passes that are positives.

Each comes with ``n`` (labels in its denominator), the Kish effective size ``n_eff = (Σw)² / Σw²`` and a 95%
Wilson interval computed at ``n_eff`` (the usual design-effect adjustment for a weighted proportion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

__all__ = ["BINS", "WEIGHT_CAP", "Labelled", "Proportion", "Volumes", "WhatIf", "bin_of", "check_thresholds",
           "volumes", "weights", "what_if", "wilson"]

BINS = 1000
WEIGHT_CAP = 20.0
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Labelled:
    """One labelled prediction: its score, whether its label is the positive verdict, and π (may be None)."""

    score: float
    positive: bool
    selection_probability: float | None


@dataclass(frozen=True)
class Proportion:
    """A weighted share with its sample size and 95% Wilson interval (None when the denominator is empty)."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    n_effective: float


@dataclass(frozen=True)
class Volumes:
    """Expected predictions per day on each route, and the audits that reach a person on top of the review band."""

    auto_flag: float
    review: float
    auto_pass: float
    audits: float

    @property
    def human(self) -> float:
        return self.review + self.audits


@dataclass(frozen=True)
class WhatIf:
    review_low: float
    review_high: float
    volumes: Volumes
    recall: Proportion
    precision: Proportion
    missed: Proportion


def check_thresholds(review_low: object, review_high: object) -> str | None:
    """None when ``0 ≤ review_low ≤ review_high ≤ 1`` (both finite numbers), else the field at fault and why."""
    for name, value in (("review_low", review_low), ("review_high", review_high)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"{name}: a number between 0 and 1"
        if not 0.0 <= value <= 1.0:
            return f"{name}: must be between 0 and 1, got {value}"
    if review_low > review_high:  # type: ignore[operator]
        return f"review_low: must not be above review_high ({review_low} > {review_high})"
    return None


def bin_of(score: float) -> int:
    """The histogram bin of a score (or a threshold): ``floor(s × BINS)``, 1.0 in the last bin (a hair of slack so
    that 0.57 is bin 570 whatever its binary rounding)."""
    return min(BINS - 1, max(0, math.floor(score * BINS + 1e-9)))


def volumes(histogram: Sequence[int], days: float, review_low: float, review_high: float,
            audit_fraction: float) -> Volumes:
    """Per-day volumes on each route from a ``BINS``-bin score histogram over ``days`` (module docstring)."""
    per_day = 1.0 / days if days > 0 else 0.0
    at_or_above_high = sum(histogram[_threshold_bin(review_high):])
    below_low = sum(histogram[:_threshold_bin(review_low)])
    review = sum(histogram) - at_or_above_high - below_low
    auto = at_or_above_high + below_low
    return Volumes(auto_flag=at_or_above_high * per_day, review=review * per_day, auto_pass=below_low * per_day,
                   audits=audit_fraction * auto * per_day)


def _threshold_bin(threshold: float) -> int:
    """First bin at or above a threshold: 1.0 is past every bin (no score reaches ``s ≥ 1`` but 1.0 itself)."""
    return BINS if threshold >= 1.0 else bin_of(threshold)


def weights(probabilities: Sequence[float | None], cap: float = WEIGHT_CAP) -> list[float]:
    """w = 1/π (π missing or ≤ 0 → 1, π > 1 → 1), capped at ``cap`` × median(w)."""
    raw = [1.0 / min(p, 1.0) if p is not None and p > 0 and math.isfinite(p) else 1.0 for p in probabilities]
    if not raw:
        return raw
    ceiling = cap * median(raw)
    return [min(w, ceiling) for w in raw]


def wilson(successes: float, total: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / total`` (total may be fractional: an effective size)."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    scale = 1 + z * z / total
    low = 0.0 if successes <= 0 else max(0.0, (centre - spread) / scale)
    high = 1.0 if successes >= total else min(1.0, (centre + spread) / scale)  # exact ends, not 0.9999…
    return low, high


def _proportion(members: Sequence[tuple[float, bool]]) -> Proportion:
    """The weighted share of True among ``(weight, hit)`` pairs."""
    total = sum(w for w, _ in members)
    if not members or total <= 0:
        return Proportion(None, None, None, len(members), 0.0)
    hits = sum(w for w, hit in members if hit)
    value = hits / total
    n_eff = total * total / sum(w * w for w, _ in members)
    low, high = wilson(value * n_eff, n_eff)
    return Proportion(value, min(low, value), max(high, value), len(members), n_eff)


def what_if(histogram: Sequence[int], days: float, labelled: Sequence[Labelled], review_low: float,
            review_high: float, audit_fraction: float) -> WhatIf:
    """Volumes, recall, precision and missed share of a candidate policy (formulas in the module docstring).

    Scores are compared with the thresholds exactly (``s ≥ high``), as ``RoutingPolicy.route`` does."""
    problem = check_thresholds(review_low, review_high)
    if problem:
        raise ValueError(problem)
    w = weights([x.selection_probability for x in labelled])
    rows = list(zip(w, labelled, strict=True))
    recall = _proportion([(wi, x.score >= review_low) for wi, x in rows if x.positive])
    precision = _proportion([(wi, x.positive) for wi, x in rows if x.score >= review_high])
    missed = _proportion([(wi, x.positive) for wi, x in rows if x.score < review_low])
    return WhatIf(review_low, review_high, volumes(histogram, days, review_low, review_high, audit_fraction),
                  recall, precision, missed)
