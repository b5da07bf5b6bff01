"""The promotion rule: not worse than the champion by more than the tolerance; strictly better when asked."""

from __future__ import annotations

import dataclasses

import pytest

from reviewqueue.domain.promotion import (
    LOWER_IS_BETTER,
    SANITY_FLOOR,
    Decision,
    Evidence,
    Sanity,
    better,
    decide,
    not_worse,
    should_promote,
)


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


# --- decide: the gate a training run applies ------------------------------------------------------------------

def _evidence(low: float, high: float, *, n: int = 212, positives: int = 37, diff: float | None = None) -> Evidence:
    return Evidence(n, positives, 0.9, 0.87, diff if diff is not None else (low + high) / 2, low, high)


def gate(sanity: Sanity, evidence: Evidence | None, *, champion: int | None = 3, require_improvement: bool = True,
         tolerance: float = 0.0) -> Decision:
    return decide(sanity, evidence, champion_version=champion, require_improvement=require_improvement,
                  tolerance=tolerance, min_per_class=10)


def test_better_with_confidence_promotes_and_says_the_interval() -> None:
    decision = gate(Sanity(0.9), _evidence(0.012, 0.050, diff=0.031))
    assert decision == Decision(True, "promoted: +0.031 AUC [+0.012, +0.050] on 212 fresh labels (37 positive), "
                                      "weighted: better with 95% confidence")
    kept = gate(Sanity(0.9), _evidence(-0.004, 0.050))
    assert not kept.promote and kept.text.startswith("kept v3: +0.023 AUC [-0.004, +0.050]")
    assert kept.text.endswith("is not better with 95% confidence")


def test_the_decision_names_the_configured_one_sided_confidence() -> None:
    evidence = dataclasses.replace(_evidence(0.004, 0.060, diff=0.031), confidence=0.9)
    assert gate(Sanity(0.9), evidence).text.endswith("weighted: better with 90% confidence")
    doubtful = dataclasses.replace(_evidence(-0.001, 0.060), confidence=0.99)
    assert gate(Sanity(0.9), doubtful).text.endswith("is not better with 99% confidence")


def test_not_worse_policy_promotes_within_the_tolerance() -> None:
    assert gate(Sanity(0.9), _evidence(-0.004, 0.02), require_improvement=False, tolerance=0.01).promote
    worse = gate(Sanity(0.9), _evidence(-0.02, 0.0), require_improvement=False, tolerance=0.01)
    assert not worse.promote and "may be worse by more than 0.01" in worse.text


def test_the_sanity_floor_comes_before_any_comparison_even_for_a_first_version() -> None:
    assert gate(Sanity(0.40), _evidence(0.1, 0.2)).text == (
        f"kept v3: candidate AUC 0.40 is below the sanity floor {SANITY_FLOOR:.2f}")
    assert gate(Sanity(0.55), None, champion=None).text == "rejected: candidate AUC 0.55 is below the sanity floor 0.55"
    assert gate(Sanity(0.9, constant=True), _evidence(0.1, 0.2)).text == "kept v3: the candidate's scores are constant"
    unconverged = gate(Sanity(0.9, converged=False, detail="lbfgs failed"), _evidence(0.1, 0.2))
    assert unconverged == Decision(False, "kept v3: the fit did not converge (lbfgs failed)")


def test_not_enough_evidence_keeps_the_champion() -> None:
    few = gate(Sanity(0.9), _evidence(0.1, 0.3, n=50, positives=4))
    assert few == Decision(False, "kept v3: not enough evidence (4 positive fresh labels, need 10)")
    assert gate(Sanity(None), None).text == "kept v3: not enough evidence (0 positive fresh labels, need 10)"


def test_a_first_version_serves_once_sane() -> None:
    first = gate(Sanity(0.8), Evidence(4000, 140, 0.8, None, None, None, None, on="held-out base rows",
                                       weighted=False), champion=None)
    assert first == Decision(True, "promoted: first version, AUC 0.800 on 4000 held-out base rows (140 positive)")
    assert gate(Sanity(None), None, champion=None).promote, "zero-shot: nothing to evaluate it on yet"
