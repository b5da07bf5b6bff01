"""The promotion rule: not worse than the champion by more than the tolerance; strictly better when asked."""

from __future__ import annotations

import pytest

from reviewqueue.domain.promotion import LOWER_IS_BETTER, better, not_worse, should_promote


def promote(candidate: float | None, champion: float | None, *, metric: str = "roc_auc", tolerance: float = 0.0,
            require_improvement: bool = False) -> bool:
    return should_promote({metric: candidate}, {metric: champion}, metric=metric, tolerance=tolerance,
                          require_improvement=require_improvement)


def test_log_loss_is_the_lower_is_better_metric() -> None:
    assert "log_loss" in LOWER_IS_BETTER and "roc_auc" not in LOWER_IS_BETTER


@pytest.mark.parametrize(("candidate", "champion", "tolerance", "expected"), [
    (0.90, 0.90, 0.0, True),  # a tie is not worse
    (0.91, 0.90, 0.0, True),
    (0.89, 0.90, 0.0, False),
    (0.89, 0.90, 0.02, True),  # within the tolerance
    (0.87, 0.90, 0.02, False),
])
def test_higher_is_better_within_the_tolerance(candidate: float, champion: float, tolerance: float,
                                                expected: bool) -> None:
    assert promote(candidate, champion, tolerance=tolerance) is expected


@pytest.mark.parametrize(("candidate", "champion", "tolerance", "expected"), [
    (0.30, 0.30, 0.0, True),
    (0.29, 0.30, 0.0, True),
    (0.31, 0.30, 0.0, False),
    (0.31, 0.30, 0.02, True),
    (0.33, 0.30, 0.02, False),
])
def test_log_loss_lower_is_better_within_the_tolerance(candidate: float, champion: float, tolerance: float,
                                                        expected: bool) -> None:
    assert promote(candidate, champion, metric="log_loss", tolerance=tolerance) is expected


def test_require_improvement_means_strictly_better_and_ignores_the_tolerance() -> None:
    assert promote(0.91, 0.90, require_improvement=True)
    assert not promote(0.90, 0.90, require_improvement=True)
    assert not promote(0.89, 0.90, tolerance=0.05, require_improvement=True)
    assert promote(0.29, 0.30, metric="log_loss", require_improvement=True)
    assert not promote(0.30, 0.30, metric="log_loss", require_improvement=True)


def test_missing_metrics() -> None:
    assert not promote(None, 0.9), "a candidate that cannot be measured is never promoted"
    assert not promote(None, None)
    assert promote(0.5, None), "nothing to compare against: promoted unless improvement is required"
    assert not promote(0.5, None, require_improvement=True)
    assert should_promote({}, {}, metric="roc_auc", tolerance=0.0, require_improvement=False) is False


def test_helpers_follow_the_metric_direction() -> None:
    assert better(0.2, 0.3, "log_loss") and not better(0.2, 0.3, "f1")
    assert not_worse(0.3, 0.3, "f1", 0.0) and not_worse(0.3, 0.3, "log_loss", 0.0)
