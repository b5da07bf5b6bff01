"""Threshold what-if (domain.whatif): hand-computed volumes, weighted recall/precision and Wilson intervals, and
the properties any thresholds keep."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.whatif import BINS, Labelled, check_thresholds, volumes, weights, what_if, wilson


def _histogram(**at: int) -> list[int]:
    """{'b50': 10} → 10 predictions in bin 50 (scores 0.050 … 0.051)."""
    h = [0] * BINS
    for name, n in at.items():
        h[int(name[1:])] += n
    return h


HISTOGRAM = _histogram(b50=10, b500=20, b950=5)
LABELS = [
    Labelled(0.95, True, 1.0), Labelled(0.95, False, 1.0),  # auto-flagged: one right, one wrong
    Labelled(0.5, True, 1.0),  # reviewed
    Labelled(0.05, True, 0.25), Labelled(0.05, False, 0.25),  # auto-passed, each stands for 4 (π = 0.25)
]


def test_volumes_per_day_on_each_route_and_the_audits_on_top():
    v = volumes(HISTOGRAM, 2.0, 0.1, 0.9, 0.2)
    assert (v.auto_pass, v.review, v.auto_flag) == (5.0, 10.0, 2.5)
    assert v.audits == pytest.approx(0.2 * 15 / 2)  # a fifth of the 15 auto-decisions, over 2 days
    assert v.human == pytest.approx(11.5)


def test_recall_precision_and_missed_weighted_by_inverse_selection_probability():
    r = what_if(HISTOGRAM, 2.0, LABELS, 0.1, 0.9, 0.2)
    # positives: 0.95 (w 1), 0.5 (w 1), 0.05 (w 4); caught unless auto-passed → (1 + 1) / 6
    assert r.recall.value == pytest.approx(1 / 3)
    assert (r.recall.n, r.recall.n_effective) == (3, pytest.approx(36 / 18))
    assert r.precision.value == pytest.approx(0.5) and r.precision.n == 2
    assert r.missed.value == pytest.approx(0.5) and r.missed.n_effective == pytest.approx(2.0)
    # Wilson at n = 2, p = 1/2: the textbook (0.0945, 0.9055)
    assert (r.precision.low, r.precision.high) == (pytest.approx(0.0945, abs=1e-4), pytest.approx(0.9055, abs=1e-4))


def test_without_weights_the_labels_would_flatter_the_routing():
    unweighted = [Labelled(x.score, x.positive, 1.0) for x in LABELS]
    assert what_if(HISTOGRAM, 2.0, unweighted, 0.1, 0.9, 0.2).recall.value == pytest.approx(2 / 3)


def test_empty_denominators_say_so_instead_of_inventing_a_figure():
    r = what_if(HISTOGRAM, 2.0, [Labelled(0.5, False, 1.0)], 0.1, 0.9, 0.0)
    assert r.recall.value is None and r.recall.n == 0 and r.precision.value is None


def test_weights_cap_a_rare_draw_at_twenty_medians_and_treat_unknown_pi_as_one():
    assert weights([1.0, 1.0, 1.0, 0.001, None, 0.0]) == [1.0, 1.0, 1.0, 20.0, 1.0, 1.0]


@pytest.mark.parametrize(("low", "high", "field"), [
    (-0.1, 0.5, "review_low"), (0.2, 1.5, "review_high"), (0.6, 0.5, "review_low"), (float("nan"), 0.5, "review_low"),
    ("0.2", 0.5, "review_low"), (True, 0.5, "review_low"),
])
def test_bad_thresholds_name_the_field(low, high, field):
    problem = check_thresholds(low, high)
    assert problem is not None and problem.startswith(f"{field}:")
    with pytest.raises(ValueError, match=field):
        what_if(HISTOGRAM, 1.0, [], low, high, 0.0)


def test_wilson_interval_holds_the_share_and_stays_in_zero_one():
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    low, high = wilson(30, 100)
    assert (low, high) == (pytest.approx(0.2189, abs=1e-4), pytest.approx(0.3958, abs=1e-4))  # 30/100, textbook


scores = st.floats(0.0, 1.0, allow_nan=False)
labelled = st.lists(st.builds(Labelled, scores, st.booleans(), st.one_of(st.none(), st.floats(0.001, 1.0))),
                    max_size=30)
histograms = st.dictionaries(st.integers(0, BINS - 1), st.integers(1, 50), max_size=20).map(
    lambda counts: [counts.get(b, 0) for b in range(BINS)])


@given(histograms, scores, scores, scores)
def test_raising_review_high_moves_volume_from_auto_flag_to_review_only(histogram, low, a, b):
    high1, high2 = sorted((max(a, low), max(b, low)))
    before, after = volumes(histogram, 1.0, low, high1, 0.1), volumes(histogram, 1.0, low, high2, 0.1)
    assert after.auto_pass == before.auto_pass  # review_low alone decides what passes
    assert after.auto_flag <= before.auto_flag and after.review >= before.review
    assert after.auto_flag + after.review + after.auto_pass == pytest.approx(sum(histogram))


@given(histograms, labelled, scores, scores, scores)
def test_raising_review_low_never_raises_recall_or_lowers_auto_pass(histogram, labels, a, b, high):
    low1, low2 = sorted((min(a, high), min(b, high)))
    before = what_if(histogram, 1.0, labels, low1, high, 0.0)
    after = what_if(histogram, 1.0, labels, low2, high, 0.0)
    assert after.volumes.auto_pass >= before.volumes.auto_pass
    if before.recall.value is not None:
        assert after.recall.value is not None and after.recall.value <= before.recall.value + 1e-12
        assert before.recall.low <= before.recall.value <= before.recall.high


@given(labelled)
def test_reviewing_everything_catches_every_positive(labels):
    r = what_if([0] * BINS, 1.0, labels, 0.0, 1.0, 0.0)
    assert r.recall.value in (None, pytest.approx(1.0))
