"""The learning queue's rules: uncertainty, today's budget and the most-uncertain-first sample."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.sampling import budget_left, learning_sample, start_of_utc_day, uncertainty

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_uncertainty_is_one_at_a_coin_flip_and_zero_at_certainty() -> None:
    assert uncertainty(0.5) == 1.0
    assert uncertainty(0.0) == uncertainty(1.0) == 0.0
    assert uncertainty(0.25) == uncertainty(0.75) == 0.5


@given(scores)
def test_uncertainty_is_symmetric_and_bounded(p: float) -> None:
    assert 0.0 <= uncertainty(p) <= 1.0
    assert abs(uncertainty(p) - uncertainty(1.0 - p)) <= 1e-6


def test_budget_and_day() -> None:
    assert budget_left(50, 12) == 38 and budget_left(50, 80) == 0
    assert start_of_utc_day(datetime(2026, 11, 30, 17, 5, 3, 9, tzinfo=UTC)) == datetime(2026, 11, 30, tzinfo=UTC)


@given(st.lists(scores, max_size=40), st.integers(min_value=0, max_value=50))
def test_sample_takes_the_most_uncertain_within_the_budget(values: list[float], left: int) -> None:
    taken = learning_sample(values, float, left)
    assert len(taken) <= left
    assert all(uncertainty(v) > 0 for v in taken)
    assert [uncertainty(v) for v in taken] == sorted((uncertainty(v) for v in taken), reverse=True)
    skipped = list(values)
    for v in taken:
        skipped.remove(v)
    if taken and len(taken) == left:  # nothing left out was more uncertain than the least uncertain taken
        assert all(uncertainty(v) <= uncertainty(taken[-1]) for v in skipped)
