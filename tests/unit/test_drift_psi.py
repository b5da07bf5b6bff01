"""PSI and its binning (domain/drift.py): known values, PSI ≥ 0, 0 for identical distributions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.drift import (
    EPSILON,
    bin_counts,
    category_counts,
    drift_level,
    noise_floor,
    proportions,
    psi,
    quantile_edges,
)

shares = st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=12).filter(lambda xs: sum(xs) > 0).map(
    lambda xs: [x / sum(xs) for x in xs])


def test_known_values() -> None:
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.25·ln 2 + 0.25·ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.27465, abs=1e-5)
    # ten equal bins against all traffic in one of them: 0.9·ln(0.1/ε)… each empty bin adds (ε − 0.1)·ln(ε/0.1)
    expected = [0.1] * 10
    actual = [1.0] + [0.0] * 9
    by_hand = (1.0 - 0.1) * math.log(1.0 / 0.1) + 9 * (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    assert psi(expected, actual) == pytest.approx(by_hand)


def test_an_empty_reference_bin_stays_finite() -> None:
    assert math.isfinite(psi([1.0, 0.0], [0.5, 0.5]))


def test_bins_must_match() -> None:
    with pytest.raises(ValueError, match="3 current bins"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


@given(shares)
def test_identical_distributions_give_zero(p: list[float]) -> None:
    assert psi(p, p) == 0.0


@given(st.integers(2, 12).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=k, max_size=k),
    st.lists(st.floats(0, 1, allow_nan=False), min_size=k, max_size=k))))
def test_psi_is_never_negative(pair: tuple[list[float], list[float]]) -> None:
    expected, actual = pair
    assert psi(expected, actual) >= 0.0


def test_quantile_bins_split_training_data_evenly_and_merge_repeats() -> None:
    values = list(range(1000))
    edges = quantile_edges(values)
    assert len(edges) == 9
    assert proportions(bin_counts(edges, values)) == pytest.approx([0.1] * 10, abs=0.002)
    # a discrete input: repeated cut points merge, one bin per value range
    assert quantile_edges([0] * 50 + [1] * 30 + [2] * 20) == [0.0, 1.0]
    assert bin_counts([0.0, 1.0], [0, 0, 1, 2, 5]) == [2, 1, 2]  # right-closed: x ≤ edge
    assert quantile_edges([3.0] * 10) == []


def test_categories_count_booleans_as_json_spells_them_and_unknowns_as_other() -> None:
    assert category_counts(["false", "true"], [True, False, True]) == [1, 2, 0]
    assert category_counts(["grocery", "fuel"], ["fuel", "fuel", "casino"]) == [0, 2, 1]


def test_levels_need_a_sample_before_they_alert() -> None:
    kw = {"watch": 0.1, "alert": 0.25, "min_sample": 200}
    assert drift_level(0.5, 199, **kw) == "too few"
    assert drift_level(0.5, 200, **kw) == "alert"
    assert drift_level(0.25, 500, **kw) == "alert"
    assert drift_level(0.1, 500, **kw) == "watch"
    assert drift_level(0.09, 500, **kw) == "stable"
    assert drift_level(None, 0, **kw) == "no data"
    assert noise_floor(10, 100) == pytest.approx(0.09)
