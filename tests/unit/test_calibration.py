"""Calibration figures (domain/calibration.py) against a hand computation."""

from __future__ import annotations

import math

import pytest

from reviewqueue.domain.calibration import calibrate, wilson


def test_reliability_bins_brier_and_ece_by_hand() -> None:
    # bin [0.1, 0.2): scores 0.1, 0.1, 0.1, 0.1 with one positive; bin [0.8, 0.9): 0.8 ×4 with three; 1.0 → last bin
    scores = [0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.8, 0.8, 1.0]
    labels = [1, 0, 0, 0, 1, 1, 1, 0, 1]
    result = calibrate(scores, labels)
    assert [(b.low, b.high, b.n) for b in result.bins] == [(0.1, 0.2, 4), (0.8, 0.9, 4), (0.9, 1.0, 1)]
    low_bin, high_bin, top = result.bins
    assert (low_bin.observed, low_bin.mean_score) == pytest.approx((0.25, 0.1))
    assert (high_bin.observed, high_bin.mean_score) == pytest.approx((0.75, 0.8))
    assert (top.observed, top.mean_score) == pytest.approx((1.0, 1.0))
    brier = (0.81 + 3 * 0.01 + 3 * 0.04 + 0.64 + 0) / 9
    assert result.brier == pytest.approx(brier)
    assert result.ece == pytest.approx(4 / 9 * 0.15 + 4 / 9 * 0.05 + 0)
    assert (result.n, result.positives) == (9, 5)
    # Wilson 95% for 1 of 4: (0.25 + z²/8 ± z·√(0.25·0.75/4 + z²/64)) / (1 + z²/4)
    z = 1.959963984540054
    centre, spread = 0.25 + z * z / 8, z * math.sqrt(0.1875 / 4 + z * z / 64)
    assert (low_bin.observed_low, low_bin.observed_high) == pytest.approx(
        ((centre - spread) / (1 + z * z / 4), (centre + spread) / (1 + z * z / 4)))
    assert (low_bin.observed_low, low_bin.observed_high) == pytest.approx((0.0456, 0.6994), abs=1e-4)


def test_weights_count_a_sampled_label_for_the_traffic_it_stands_for() -> None:
    # one audited label (π = 0.5 → weight 2) outweighs one reviewed label in the same bin
    result = calibrate([0.3, 0.3], [1, 0], [2.0, 1.0])
    (only,) = result.bins
    assert only.observed == pytest.approx(2 / 3)
    assert only.effective_n == pytest.approx(9 / 5)  # (Σw)² / Σw²


def test_nothing_labelled_gives_no_figures() -> None:
    result = calibrate([], [])
    assert (result.n, result.brier, result.ece, result.bins) == (0, None, None, [])
    assert wilson(0.0, 0) == (0.0, 1.0)
