"""Label precedence: which of several labels on one prediction counts (training data and version quality)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from reviewqueue.domain.states import LabelSource

__all__ = ["LABEL_PRECEDENCE", "best_label_per_prediction", "precedence"]

# Labels from these sources override each other in this order when one prediction has several.
# What happened (an outcome, a chargeback) outranks what a person judged; among equals the newest wins.
LABEL_PRECEDENCE = {LabelSource.CHARGEBACK: 3, LabelSource.OUTCOME: 3, LabelSource.REVIEWER: 2, LabelSource.AUDIT: 2}


class SourcedLabel(Protocol):
    @property
    def prediction_id(self) -> int: ...

    @property
    def source(self) -> str: ...


L = TypeVar("L", bound=SourcedLabel)


def precedence(source: str) -> int:
    """The rank of a label source (unknown-but-valid sources rank 1); an invalid source raises ValueError."""
    return LABEL_PRECEDENCE.get(LabelSource(source), 1)


def best_label_per_prediction(rows: Iterable[L]) -> dict[int, L]:
    """One label per prediction id: the highest precedence wins; among equals the later row wins.

    ``rows`` must come oldest first (created_at, id): a row replaces the kept one when
    ``precedence(row) ≥ precedence(kept)``, so a chargeback beats a reviewer or audit verdict whatever their
    order, and a newer reviewer verdict beats an older one. The dict keeps the order in which each prediction
    was first seen (training builds its frame in that order).
    """
    best: dict[int, L] = {}
    for row in rows:
        current = best.get(row.prediction_id)
        if current is None or precedence(row.source) >= precedence(current.source):
            best[row.prediction_id] = row
    return best
