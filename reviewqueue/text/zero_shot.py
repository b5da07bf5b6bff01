"""Version 1 of a text model, before any labels: a calibrated direction in embedding space.

Formula (E = unit-norm sentence embeddings):

    d   = (mean E(concern phrases) − mean E(no-concern phrases)) / ‖ … ‖        direction, unit length
    s   = E(text) · d                                                          raw score, in [−1, 1]
    p   = sigmoid(a · s + b)                                                   Platt scaling, a > 0 expected
        = sigmoid(w · E(text) + b)   with   w = a · d                          → the same linear head as later
                                                                                 versions, so graph.fuse_head
                                                                                 serves both

a and b are fitted on a few labelled calibration texts with Platt's smoothed targets: positives count as
(N₊ + 1)/(N₊ + 2) and negatives as 1/(N₋ + 2) instead of 1 and 0. With a handful of texts that the direction
already separates perfectly, a plain logistic fit would push a to infinity (p = 0 or 1 for everything); the
smoothed targets keep it finite and the probabilities honest about how little calibration data there is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["zero_shot_head"]

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def zero_shot_head(
    embed_fn: EmbedFn,
    concern_phrases: Sequence[str],
    no_concern_phrases: Sequence[str],
    calibration_texts: Sequence[tuple[str, int]],
    names: tuple[str, str] = ("positive", "negative"),
) -> tuple[np.ndarray, float]:
    """Return (w float32 [D], b) such that p = sigmoid(w · embed(text) + b); see the module docstring.

    ``embed_fn`` maps texts to unit-norm embeddings (``TextSession.embed`` on the encoder or a fused graph).
    ``calibration_texts`` are (text, 1 = positive / 0 = negative) pairs; both labels must be present.
    ``names`` are the model's own verdicts (positive, negative), used in the error messages.
    Raises ``ValueError`` when the calibration says the direction points the wrong way (a ≤ 0): the phrase sets
    or the labels are then wrong, and serving an inverted model would be worse than serving none.
    """
    from sklearn.linear_model import LogisticRegression

    pos, neg = names
    if not concern_phrases or not no_concern_phrases:
        raise ValueError(f"need at least one {pos!r} and one {neg!r} phrase")
    labels = np.array([int(label) for _, label in calibration_texts])
    if not set(labels.tolist()) == {0, 1}:
        raise ValueError(f"calibration_texts need examples of both verdicts (1 = {pos!r}, 0 = {neg!r})")

    delta = (np.asarray(embed_fn(list(concern_phrases)), dtype=np.float64).mean(axis=0)
             - np.asarray(embed_fn(list(no_concern_phrases)), dtype=np.float64).mean(axis=0))
    norm = float(np.linalg.norm(delta))
    if norm == 0.0:
        raise ValueError(f"{pos!r} and {neg!r} phrases embed to the same mean; nothing to separate")
    direction = delta / norm
    raw = np.asarray(embed_fn([text for text, _ in calibration_texts]), dtype=np.float64) @ direction

    positives, negatives = int(labels.sum()), int(len(labels) - labels.sum())
    targets = np.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    # Soft targets as two weighted copies of each text (label 1 with weight t, label 0 with weight 1 − t);
    # C = inf: no penalty, the smoothing is the regulariser.
    features = np.concatenate([raw, raw]).reshape(-1, 1)
    classes = np.concatenate([np.ones_like(labels), np.zeros_like(labels)])
    weights = np.concatenate([targets, 1 - targets])
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(features, classes, sample_weight=weights)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if slope <= 0:
        raise ValueError(f"calibration inverted the direction (a = {slope:.3g}): check the phrases and labels")
    return (slope * direction).astype(np.float32), intercept
