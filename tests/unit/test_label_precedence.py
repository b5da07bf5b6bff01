"""Label precedence: one label per prediction, chargeback over reviewer/audit, the newest among equals."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from reviewqueue.domain.labels import LABEL_PRECEDENCE, best_label_per_prediction, precedence
from reviewqueue.domain.states import LabelSource


class L(NamedTuple):
    id: int
    prediction_id: int
    source: str
    value: str


def test_chargeback_beats_reviewer_and_audit_whichever_comes_first() -> None:
    rows = [L(1, 10, "chargeback", "fraud"), L(2, 10, "reviewer", "legit"),
            L(3, 11, "audit", "legit"), L(4, 11, "chargeback", "fraud")]
    best = best_label_per_prediction(rows)
    assert best[10].id == 1 and best[11].id == 4


def test_the_newest_wins_among_equals() -> None:
    rows = [L(1, 10, "reviewer", "fraud"), L(2, 10, "audit", "legit"), L(3, 10, "reviewer", "legit"),
            L(4, 12, "chargeback", "fraud"), L(5, 12, "chargeback", "legit")]
    best = best_label_per_prediction(rows)
    assert best[10].id == 3 and best[12].id == 5


def test_predictions_keep_the_order_they_were_first_seen() -> None:
    rows = [L(1, 30, "reviewer", "x"), L(2, 20, "reviewer", "x"), L(3, 30, "chargeback", "x"), L(4, 10, "audit", "x")]
    assert list(best_label_per_prediction(rows)) == [30, 20, 10]


def test_ranks_and_unknown_sources() -> None:
    assert LABEL_PRECEDENCE[LabelSource.CHARGEBACK] > LABEL_PRECEDENCE[LabelSource.REVIEWER]
    assert precedence("reviewer") == precedence("audit")
    assert best_label_per_prediction([]) == {}
    with pytest.raises(ValueError):
        precedence("rumour")
