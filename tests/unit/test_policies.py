"""Routing, priority and retry rules: pure functions, checked over their whole input space."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.policies import ExpectedLoss, RetryPolicy, Route, RoutingPolicy, stable_fraction

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(scores)
def test_routing_bands_partition_the_score_range(score: float) -> None:
    policy = RoutingPolicy(review_low=0.15, review_high=0.9)
    route = policy.route(score)
    if score >= 0.9:
        assert route is Route.AUTO_FLAG
    elif score >= 0.15:
        assert route is Route.REVIEW
    else:
        assert route is Route.AUTO_PASS


def test_routing_policy_refuses_inverted_bands() -> None:
    with pytest.raises(ValueError, match="review_low"):
        RoutingPolicy(review_low=0.9, review_high=0.1)
    with pytest.raises(ValueError, match="audit_fraction"):
        RoutingPolicy(audit_fraction=1.5)


def test_audit_sample_is_stable_and_close_to_its_fraction() -> None:
    policy = RoutingPolicy(audit_fraction=0.1)
    ids = [f"tx-{i}" for i in range(20_000)]
    audited = [policy.audited(i) for i in ids]
    assert audited == [policy.audited(i) for i in ids], "the same event must always draw the same lottery"
    assert 0.09 < sum(audited) / len(ids) < 0.11


@given(st.text(max_size=50))
def test_stable_fraction_is_in_unit_interval(key: str) -> None:
    assert 0.0 <= stable_fraction(key) < 1.0


@given(scores, st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_expected_loss_is_score_times_amount(score: float, amount: float) -> None:
    assert ExpectedLoss("amount")(score, {"amount": amount}) == pytest.approx(score * amount, abs=1e-5)


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=1000, allow_nan=False) | st.none())
def test_retry_delay_grows_within_bounds_and_honours_retry_after(attempts: int, retry_after: float | None) -> None:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=300.0, max_attempts=8)
    delay = policy.delay(attempts, retry_after, random.Random(attempts))
    cap = min(300.0, 2 ** (attempts - 1))
    assert delay > 0
    if retry_after is not None and retry_after > cap:
        assert delay == retry_after, "the provider's Retry-After wins over a shorter backoff"
    else:
        assert cap / 2 <= delay <= cap


def test_retry_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.should_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]
