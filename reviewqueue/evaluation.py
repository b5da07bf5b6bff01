"""Judging a candidate against the champion: selection weights, weighted ROC AUC and a paired bootstrap.

Formulas (the decision rule itself is ``domain.promotion.decide``):

- weight of label i:  w_i = 1 / π_i  (π = the probability the label was gathered; NULL or ≤ 0 → 1),
  capped at ``cap`` × median(w), then self-normalised so that Σ w_i = n;
- weighted ROC AUC:   AUC_w = Σ_{i∈P} Σ_{j∈N} w_i w_j ([s_i > s_j] + ½ [s_i = s_j]) / (Σ_{P} w_i · Σ_{N} w_j),
  which with w ≡ 1 is the ordinary AUC (sklearn ``roc_auc_score``) and with an integer w_i is the AUC of the
  rows repeated w_i times;
- paired bootstrap:  B resamples of the labels with replacement (multinomial counts c_b, fixed seed);
  Δ_b = AUC_{w·c_b}(candidate) − AUC_{w·c_b}(champion), both models on the same resample; the interval is the
  2.5 / 97.5 percentiles of Δ_b (resamples with one class only are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "label_weights", "paired_bootstrap", "weighted_auc", "weighted_auc_many"]

WEIGHT_CAP = 20.0
"""A label's weight is at most this multiple of the median weight (one rare draw must not decide alone)."""


def label_weights(probabilities: object, cap: float = WEIGHT_CAP) -> np.ndarray:
    """w = 1/π (π missing or ≤ 0 → 1), capped at ``cap`` × median, self-normalised to mean 1."""
    pi = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    pi = np.where(np.isfinite(pi) & (pi > 0), np.minimum(pi, 1.0), 1.0)
    weights = 1.0 / pi
    if weights.size == 0:
        return weights
    weights = np.minimum(weights, cap * float(np.median(weights)))
    return weights * (weights.size / weights.sum())


def weighted_auc_many(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC_w (module docstring) for each row of ``weights`` [B, n] at once; NaN where a class has no weight."""
    y = np.asarray(y).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, y_sorted, w_sorted = scores[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # groups of tied scores
    positive = np.add.reduceat(w_sorted * y_sorted, starts, axis=1)
    negative = np.add.reduceat(w_sorted * ~y_sorted, starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative  # negative weight strictly below each score group
    numerator = (positive * (below + 0.5 * negative)).sum(axis=1)
    denominator = positive.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def weighted_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """AUC_w of one score vector; None when either class is missing (or has zero weight)."""
    w = np.ones(len(np.asarray(y))) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) == 0:
        return None
    value = float(weighted_auc_many(y, scores, w)[0])
    return None if np.isnan(value) else value


@dataclass(frozen=True)
class Comparison:
    """Candidate vs champion on the same labels: both AUC_w, their difference and its bootstrap interval."""

    n: int
    positives: int
    candidate: float | None
    champion: float | None
    difference: float | None
    low: float | None
    high: float | None
    reps: int


def paired_bootstrap(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, weights: np.ndarray, *,
                     reps: int = 1000, seed: int = 0, level: float = 0.95, chunk: int = 250) -> Comparison:
    """Δ = AUC_w(candidate) − AUC_w(champion) and its percentile interval over ``reps`` paired resamples."""
    y = np.asarray(y).astype(int).reshape(-1)
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    n = len(y)
    ours, theirs = weighted_auc(y, candidate, weights), weighted_auc(y, champion, weights)
    if ours is None or theirs is None:
        return Comparison(n, int(y.sum()), ours, theirs, None, None, None, 0)
    rng = np.random.default_rng(seed)
    deltas: list[np.ndarray] = []
    for start in range(0, reps, chunk):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, reps - start))
        resampled = counts * weights
        deltas.append(weighted_auc_many(y, candidate, resampled) - weighted_auc_many(y, champion, resampled))
    delta = np.concatenate(deltas)
    delta = delta[~np.isnan(delta)]
    tail = (1 - level) / 2 * 100
    low, high = (np.percentile(delta, [tail, 100 - tail]) if delta.size else (np.nan, np.nan))
    return Comparison(n, int(y.sum()), ours, theirs, ours - theirs,
                      float(low) if delta.size else None, float(high) if delta.size else None, int(delta.size))
