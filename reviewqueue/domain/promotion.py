"""The promotion rule: when a trained candidate replaces the champion.

Pure: it compares two metric dicts measured on the same holdout and decides; training records the decision.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LOWER_IS_BETTER", "better", "not_worse", "should_promote"]

LOWER_IS_BETTER = frozenset({"log_loss"})
"""Metrics where a smaller value is the better model; every other metric (roc_auc, f1, …) is higher-is-better."""


def better(candidate: float, champion: float, metric: str) -> bool:
    """Strictly better: ``candidate < champion`` for a LOWER_IS_BETTER metric, else ``candidate > champion``."""
    return candidate < champion if metric in LOWER_IS_BETTER else candidate > champion


def not_worse(candidate: float, champion: float, metric: str, tolerance: float) -> bool:
    """Worse by at most ``tolerance``: ``candidate ≤ champion + tolerance`` for a LOWER_IS_BETTER metric,
    else ``candidate ≥ champion − tolerance``."""
    if metric in LOWER_IS_BETTER:
        return candidate <= champion + tolerance
    return candidate >= champion - tolerance


def should_promote(
    candidate: Mapping[str, float | None],
    champion: Mapping[str, float | None],
    *,
    metric: str,
    tolerance: float,
    require_improvement: bool,
) -> bool:
    """Promote the candidate over an existing champion, both measured on one holdout.

    Let c = candidate[metric], h = champion[metric] (None: not measurable, e.g. roc_auc on one class):

    - c is None → False (nothing shows the candidate works);
    - h is None → not require_improvement (nothing to beat, but "strictly better" cannot be shown);
    - require_improvement → better(c, h, metric) (strictly);
    - otherwise → not_worse(c, h, metric, tolerance).

    With no champion at all the caller promotes without asking (the first version always serves).
    """
    ours, theirs = candidate.get(metric), champion.get(metric)
    if ours is None:
        return False
    if theirs is None:
        return not require_improvement
    if require_improvement:
        return better(ours, theirs, metric)
    return not_worse(ours, theirs, metric, tolerance)
