"""Weighted ROC AUC and the paired bootstrap of the AUC difference (reviewqueue.evaluation)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from reviewqueue.evaluation import label_weights, paired_bootstrap, weighted_auc

labelled_scores = st.integers(min_value=4, max_value=60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    st.lists(st.integers(0, 20).map(lambda k: k / 20), min_size=n, max_size=n),  # ties on purpose
    st.lists(st.integers(1, 4), min_size=n, max_size=n),
))


@settings(max_examples=60, deadline=None)
@given(labelled_scores)
def test_weights_of_one_reproduce_sklearns_auc(data: tuple[list[int], list[float], list[int]]) -> None:
    y, s, _ = data
    ours = weighted_auc(np.array(y), np.array(s))
    assert ours is not None and abs(ours - roc_auc_score(y, s)) < 1e-12


@settings(max_examples=60, deadline=None)
@given(labelled_scores)
def test_an_integer_weight_is_the_row_repeated(data: tuple[list[int], list[float], list[int]]) -> None:
    y, s, w = data
    repeated_y = np.repeat(y, w)
    repeated_s = np.repeat(s, w)
    weighted = weighted_auc(np.array(y), np.array(s), np.array(w, dtype=float))
    assert weighted is not None
    assert abs(weighted - roc_auc_score(repeated_y, repeated_s)) < 1e-12
    assert abs(weighted - roc_auc_score(y, s, sample_weight=w)) < 1e-12


def test_one_class_has_no_auc() -> None:
    assert weighted_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    assert weighted_auc(np.array([], dtype=int), np.array([])) is None


def test_weights_are_inverse_probabilities_capped_and_self_normalised() -> None:
    w = label_weights([1.0, 0.5, None, 0.001, float("nan")])
    assert abs(w.sum() - 5) < 1e-9, "mean 1"
    raw = np.array([1.0, 2.0, 1.0, 20.0, 1.0])  # 1/0.001 = 1000 capped at 20 × median(=1)
    assert np.allclose(w, raw * 5 / raw.sum())
    assert label_weights([]).size == 0


def _two_models(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion = rng.random(n) + 0.3 * y
    candidate = rng.random(n) + 0.8 * y
    return y, candidate, champion


def test_the_interval_contains_the_estimate_and_a_fixed_seed_repeats_it() -> None:
    y, candidate, champion = _two_models()
    w = label_weights(np.random.default_rng(2).uniform(0.05, 1, len(y)))
    first = paired_bootstrap(y, candidate, champion, w, reps=1000, seed=0)
    assert first == paired_bootstrap(y, candidate, champion, w, reps=1000, seed=0)
    assert first.difference is not None and first.low is not None and first.high is not None
    assert first.low < first.difference < first.high
    assert first.low > 0, first  # the candidate separates the classes far better
    assert first.n == len(y) and first.positives == int(y.sum()) and first.reps == 1000
    assert first.difference == first.candidate - first.champion  # type: ignore[operator]


def test_the_same_model_twice_has_an_interval_of_zero_and_swapping_flips_the_sign() -> None:
    y, candidate, champion = _two_models(120, seed=3)
    w = np.ones(len(y))
    same = paired_bootstrap(y, champion, champion, w, reps=200)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    forward = paired_bootstrap(y, candidate, champion, w, reps=300, seed=5)
    backward = paired_bootstrap(y, champion, candidate, w, reps=300, seed=5)
    assert forward.low is not None and backward.high is not None
    assert abs(forward.low + backward.high) < 1e-12


def test_one_class_gives_no_interval() -> None:
    result = paired_bootstrap(np.ones(5, dtype=int), np.arange(5.0), np.arange(5.0), np.ones(5))
    assert result.difference is None and result.low is None and result.reps == 0
