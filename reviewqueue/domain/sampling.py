"""How an auto-decided prediction reaches a human anyway, and with what probability (DESIGN invariant 9).

Two random samples of the traffic no reviewer would otherwise see:
- the **audit**: a fixed share ``a`` of auto-decisions (``RoutingPolicy.audit_fraction``), drawn by a hash of the
  event's id, so the same event always draws the same lottery;
- the **learning draw** (a model's ``LearningQueue``): each remaining auto-decided event is drawn with
  probability ``p = min(1, c·u(score))``, growing with its uncertainty ``u``, where ``c = budget / U_day`` and
  ``U_day`` is the uncertainty mass a day of this model's auto-decided traffic carries. The expected number of
  draws per day is then the budget, whatever the request sizes or the order events arrive in; a hard cap stops
  drawing once the day's budget is used (the probability stored is then 0).

The probability that an auto-decided event was selected for a human at all is ``π = a + (1 − a)·p``; it is
stored on the prediction and on its label, and evaluation weights each label by ``1/π``.
"""

from __future__ import annotations

from datetime import datetime

from reviewqueue.domain.policies import stable_fraction

__all__ = ["budget_left", "daily_uncertainty", "drawn", "inclusion_probability", "learning_probability",
           "learning_scale", "start_of_utc_day", "uncertainty"]

DAY_SECONDS = 86_400.0
MIN_OBSERVED_SECONDS = 3_600.0


def uncertainty(score: float) -> float:
    """u(p) = 1 − |2p − 1|: 1 at p = 0.5, 0 at p = 0 or 1 — the label that would teach the model most.

    Rounded to 6 places so equal scores rank as equals whatever their float noise.
    """
    return round(1.0 - abs(2.0 * score - 1.0), 6)


def start_of_utc_day(now: datetime) -> datetime:
    """Midnight of ``now``'s day (budgets are per UTC day; ``now`` is timezone-aware UTC)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def budget_left(budget_per_day: int, used_today: int) -> int:
    """left = max(0, budget − used): what the learning queue may still take today."""
    return max(0, budget_per_day - used_today)


def daily_uncertainty(observed_mass: float, observed_seconds: float, batch_mass: float) -> float:
    """U_day, the uncertainty mass Σu of a day of auto-decided traffic, estimated from the last 24 hours:
    ``observed_mass × 86400 / max(observed_seconds, 3600)`` (a young model's history is extrapolated, but never
    from less than an hour). With no history at all the batch at hand is taken as one hour's traffic:
    ``batch_mass × 24``. Never below the batch's own mass (the day holds at least this batch)."""
    if observed_mass > 0:
        estimate = observed_mass * DAY_SECONDS / max(observed_seconds, MIN_OBSERVED_SECONDS)
    else:
        estimate = batch_mass * DAY_SECONDS / MIN_OBSERVED_SECONDS
    return max(estimate, batch_mass)


def learning_scale(budget_per_day: int, day_mass: float) -> float:
    """c = budget / U_day, so that Σ p = Σ c·u ≈ budget over a day (0 when there is nothing to draw from)."""
    return budget_per_day / day_mass if day_mass > 0 else 0.0


def learning_probability(score: float, scale: float) -> float:
    """p = min(1, c·u(score)): more uncertain events are likelier to be drawn; certain ones never are."""
    return min(1.0, scale * uncertainty(score))


def drawn(key: str, probability: float) -> bool:
    """The draw itself: ``stable_fraction(key) < probability`` — uniform over keys, repeatable per event."""
    return stable_fraction(key) < probability


def inclusion_probability(audit_fraction: float, learning_p: float) -> float:
    """π = a + (1 − a)·p: the probability an auto-decided event was sent to a human by either sample."""
    return audit_fraction + (1.0 - audit_fraction) * learning_p
