"""Which predictions a learning queue takes: the most uncertain, within a daily budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

__all__ = ["budget_left", "learning_sample", "start_of_utc_day", "uncertainty"]

T = TypeVar("T")


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


def learning_sample(candidates: Sequence[T], score_of: Callable[[T], float], left: int) -> list[T]:
    """The ``left`` most uncertain candidates, most uncertain first; candidates with u(p) = 0 never (they would
    teach nothing). Ties keep arrival order (a stable sort)."""
    ranked = sorted(candidates, key=lambda c: uncertainty(score_of(c)), reverse=True)
    return [c for c in ranked[:left] if uncertainty(score_of(c)) > 0]
