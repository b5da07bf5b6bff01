"""The learning queue's rules: uncertainty, today's budget and the most-uncertain-first sample."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.sampling import (
    budget_left,
    daily_uncertainty,
    drawn,
    inclusion_probability,
    learning_probability,
    learning_scale,
    start_of_utc_day,
    uncertainty,
)

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


def test_day_estimate_extrapolates_a_young_history_and_never_undercounts_the_batch() -> None:
    assert daily_uncertainty(observed_mass=10.0, observed_seconds=86_400, batch_mass=1.0) == 10.0
    assert daily_uncertainty(observed_mass=10.0, observed_seconds=7_200, batch_mass=1.0) == 120.0
    assert daily_uncertainty(observed_mass=10.0, observed_seconds=60, batch_mass=1.0) == 240.0  # ≥ 1 hour
    assert daily_uncertainty(observed_mass=0.0, observed_seconds=0, batch_mass=2.0) == 48.0  # batch = 1 hour
    assert daily_uncertainty(observed_mass=1.0, observed_seconds=86_400, batch_mass=5.0) == 5.0


@given(scores, st.floats(min_value=0.0, max_value=100.0, allow_nan=False))
def test_learning_probability_is_a_probability_growing_with_uncertainty(p: float, scale: float) -> None:
    prob = learning_probability(p, scale)
    assert 0.0 <= prob <= 1.0
    assert prob == 0.0 or uncertainty(p) > 0
    assert learning_probability(0.5, scale) >= prob  # nothing is likelier than a coin flip


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_inclusion_probability_is_audit_or_draw(a: float, p: float) -> None:
    pi = inclusion_probability(a, p)
    assert max(a, p) - 1e-12 <= pi <= 1.0 + 1e-12
    assert abs((1 - pi) - (1 - a) * (1 - p)) < 1e-12  # missed by both samples


def test_draws_follow_their_probabilities() -> None:
    """Over 20,000 keys the share drawn at p = 0.1 / 0.5 is within 4 standard errors of p."""
    n = 20_000
    for p in (0.1, 0.5):
        hits = sum(drawn(f"learning:test:{i}", p) for i in range(n))
        assert abs(hits / n - p) < 4 * math.sqrt(p * (1 - p) / n), (p, hits)
    assert not any(drawn(f"k{i}", 0.0) for i in range(1000))
    assert learning_scale(50, 0.0) == 0.0 and learning_scale(50, 200.0) == 0.25
