"""Calibration: does a score of 0.3 mean "positive 30% of the time"? Reliability bins, Brier score, ECE.

Labels are weighted (w_i = 1/π_i, as the promotion gate weights them) because the labelled predictions are
not a random sample of traffic: the review band is labelled in full, the rest only through audits. With
weights w over labels y ∈ {0, 1} and scores s:

- a bin [lo, hi) (ten equal bins over 0–1; the last includes 1) has observed rate r = Σ w·y / Σ w, mean score
  m = Σ w·s / Σ w, and effective size n_eff = (Σ w)² / Σ w² (Kish; = n when all weights are equal);
- its 95% interval is Wilson's for r on n_eff:
  (r + z²/2n ± z·√(r(1−r)/n + z²/4n²)) / (1 + z²/n), z = 1.96;
- Brier = Σ w·(s − y)² / Σ w;  ECE = Σ_bins (Σ_bin w / Σ w) · |m − r|.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bin", "Calibration", "calibrate", "wilson"]

Z95 = 1.959963984540054
BINS = 10


def wilson(rate: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``rate`` observed on ``n`` (possibly effective, fractional) trials."""
    if n <= 0:
        return 0.0, 1.0
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    # clamped so it always holds the estimate (at rate 0 or 1 rounding would otherwise leave it 1e-17 outside)
    return min(rate, max(0.0, (centre - spread) / denominator)), max(rate, min(1.0, (centre + spread) / denominator))


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    n: int
    mean_score: float
    observed: float
    observed_low: float
    observed_high: float
    effective_n: float


@dataclass(frozen=True)
class Calibration:
    n: int
    positives: int
    brier: float | None
    ece: float | None
    bins: list[Bin]


def calibrate(scores: Sequence[float], labels: Sequence[int], weights: Sequence[float] | None = None,
              bins: int = BINS) -> Calibration:
    """The reliability bins (non-empty ones only), Brier score and ECE of ``scores`` against ``labels``."""
    w = list(weights) if weights is not None else [1.0] * len(scores)
    if not (len(scores) == len(labels) == len(w)):
        raise ValueError("calibrate: scores, labels and weights must have the same length")
    total = sum(w)
    if not scores or total <= 0:
        return Calibration(len(scores), sum(labels), None, None, [])
    grouped: list[list[int]] = [[] for _ in range(bins)]
    for i, s in enumerate(scores):
        grouped[min(int(s * bins), bins - 1)].append(i)
    out: list[Bin] = []
    ece = 0.0
    for b, members in enumerate(grouped):
        weight = sum(w[i] for i in members)
        if not members or weight <= 0:
            continue
        rate = sum(w[i] * labels[i] for i in members) / weight
        mean = sum(w[i] * scores[i] for i in members) / weight
        n_eff = weight * weight / sum(w[i] * w[i] for i in members)
        low, high = wilson(rate, n_eff)
        out.append(Bin(b / bins, (b + 1) / bins, len(members), mean, rate, low, high, n_eff))
        ece += weight / total * abs(mean - rate)
    brier = sum(wi * (s - y) ** 2 for wi, s, y in zip(w, scores, labels, strict=True)) / total
    return Calibration(len(scores), sum(labels), brier, ece, out)
