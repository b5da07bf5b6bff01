"""The promotion rule: when a trained candidate replaces the champion.

Pure: ``decide`` is the gate a training run applies (sanity floor, enough evidence, the bootstrap interval of the
AUC difference); ``should_promote`` compares two metric dicts point-wise. Training records the decision in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LOWER_IS_BETTER", "SANITY_FLOOR", "Decision", "Evidence", "Sanity", "better", "decide", "not_worse",
           "should_promote"]

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


# --- the gate a training run applies (issue 9): sanity floor, enough evidence, then the interval -------------

SANITY_FLOOR = 0.55
"""A candidate whose (weighted) ROC AUC is at or below this is broken, whatever the champion scores."""


@dataclass(frozen=True)
class Sanity:
    """What is known about the candidate alone: its AUC where measured, constant scores, a converged fit."""

    auc: float | None
    constant: bool = False
    converged: bool = True
    detail: str = ""  # e.g. the convergence warning, shown in the decision


@dataclass(frozen=True)
class Evidence:
    """Candidate vs champion on the same labels: n, positives, both AUCs, Δ = candidate − champion, its interval.

    ``on`` names the rows in words ("fresh labels", "held-out base rows"); ``weighted`` says the AUCs are
    weighted by 1/π.
    """

    n: int
    positives: int
    candidate: float | None
    champion: float | None
    difference: float | None
    low: float | None
    high: float | None
    on: str = "fresh labels"
    weighted: bool = True
    confidence: float = 0.95
    """One-sided confidence of ``low``: the interval [low, high] is the central (2·confidence − 1) one."""

    @property
    def negatives(self) -> int:
        return self.n - self.positives


@dataclass(frozen=True)
class Decision:
    promote: bool
    text: str


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _interval(e: Evidence) -> str:
    assert e.difference is not None and e.low is not None and e.high is not None
    return (f"{_signed(e.difference)} AUC [{_signed(e.low)}, {_signed(e.high)}] on {e.n} {e.on} "
            f"({e.positives} positive){', weighted' if e.weighted else ''}")


def decide(
    sanity: Sanity,
    evidence: Evidence | None,
    *,
    champion_version: int | None,
    require_improvement: bool,
    tolerance: float,
    min_per_class: int,
    floor: float = SANITY_FLOOR,
) -> Decision:
    """The promotion gate, in this order (the first rule that applies decides):

    1. sanity floor — the fit did not converge, the scores are constant, or the candidate's AUC ≤ ``floor``
       → never promoted (not even as a first version);
    2. no champion → promoted (the first version serves);
    3. fewer than ``min_per_class`` labels of either class in the evidence → kept: not enough evidence;
    4. ``require_improvement`` → promoted iff the interval's lower bound of Δ = candidate − champion is > 0
       (better with ``evidence.confidence``, one-sided); otherwise promoted iff the lower bound is
       > −``tolerance`` (not worse).
    """
    keep = f"kept v{champion_version}" if champion_version is not None else "rejected"
    if not sanity.converged:
        return Decision(False, f"{keep}: the fit did not converge{f' ({sanity.detail})' if sanity.detail else ''}")
    if sanity.constant:
        return Decision(False, f"{keep}: the candidate's scores are constant")
    if sanity.auc is not None and sanity.auc <= floor:
        return Decision(False, f"{keep}: candidate AUC {sanity.auc:.2f} is below the sanity floor {floor:.2f}")
    if champion_version is None:
        if evidence is None or evidence.candidate is None:
            return Decision(True, "promoted: first version (no held-out labels to evaluate it on)")
        return Decision(True, f"promoted: first version, AUC {evidence.candidate:.3f} on {evidence.n} {evidence.on} "
                              f"({evidence.positives} positive)")
    if evidence is None or min(evidence.positives, evidence.negatives) < min_per_class:
        positives = evidence.positives if evidence else 0
        negatives = evidence.negatives if evidence else 0
        short, have = ("positive", positives) if positives <= negatives else ("negative", negatives)
        return Decision(False, f"{keep}: not enough evidence ({have} {short} fresh labels, need {min_per_class})")
    if evidence.low is None:
        return Decision(False, f"{keep}: the comparison could not be measured")
    sure = f"{evidence.confidence:.0%} confidence"
    if require_improvement:
        if evidence.low > 0:
            return Decision(True, f"promoted: {_interval(evidence)}: better with {sure}")
        return Decision(False, f"{keep}: {_interval(evidence)} is not better with {sure}")
    if evidence.low > -tolerance:
        return Decision(True, f"promoted: {_interval(evidence)}: not worse than −{tolerance:g} with {sure}")
    return Decision(False, f"{keep}: {_interval(evidence)} may be worse by more than {tolerance:g} ({sure})")
