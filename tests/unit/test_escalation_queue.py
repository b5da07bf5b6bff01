"""A model's escalation queue: declared on the model (default ``<queue>-senior``), refused at import when it is
not a queue of its own; the release holds' lease names sort one reviewer's holds together under any collation."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import reviewqueue as rq
from reviewqueue.db.leases import release_hold_name, release_hold_range
from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec


def declare(**options: Any) -> ModelSpec:
    @rq.model(name="m", features={"x": float}, dataset=lambda: pd.DataFrame({"x": [0.0], "label": [0]}),
              verdicts={"yes": [], "no": []}, positive_verdict="yes", negative_verdict="no", **options)
    def train(df: pd.DataFrame) -> None:
        return None

    spec: ModelSpec = getattr(train, SPEC_ATTRIBUTE)
    return spec


def test_the_escalation_queue_defaults_to_the_queue_and_senior() -> None:
    assert declare().escalation_queue == "m-senior"
    assert declare(queue="fraud").escalation_queue == "fraud-senior"
    assert declare(queue="fraud", escalation_queue="fraud-adjudication").escalation_queue == "fraud-adjudication"


@pytest.mark.parametrize(("options", "words"), [
    ({"queue": "fraud", "escalation_queue": "fraud"}, "already one of its queues"),
    ({"queue": "c", "learning": rq.LearningQueue(queue="c-learn"), "escalation_queue": "c-learn"},
     "already one of its queues"),
    ({"escalation_queue": ""}, "1-120 letters"),
    ({"escalation_queue": " senior"}, "1-120 letters"),
    ({"escalation_queue": "senior/queue"}, "1-120 letters"),
    ({"escalation_queue": "x" * 121}, "1-120 letters"),
])
def test_a_bad_escalation_queue_is_refused_at_import(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        declare(**options)


def test_release_hold_names_fall_in_their_reviewers_range_only() -> None:
    low, high = release_hold_range(7)
    assert low <= release_hold_name(7, 1) < high and low <= release_hold_name(7, 10**11) < high
    for other in (release_hold_name(6, 10**11), release_hold_name(8, 0), release_hold_name(70, 1)):
        assert not low <= other < high
