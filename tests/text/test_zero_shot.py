"""Zero-shot version 1 ranks concerning messages above ordinary ones, with a calibrated head."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reviewqueue.text.phrases import SEED_CALIBRATION, SEED_CONCERN, SEED_NO_CONCERN
from reviewqueue.text.serving import TextSession
from reviewqueue.text.zero_shot import zero_shot_head
from tests.text.messages import EVAL_CONCERN, EVAL_ORDINARY


def test_concerning_messages_rank_above_ordinary_ones(session: TextSession) -> None:
    scores = session.score(EVAL_CONCERN + EVAL_ORDINARY)
    labels = [1] * len(EVAL_CONCERN) + [0] * len(EVAL_ORDINARY)
    auc = roc_auc_score(labels, scores)
    print(f"\nzero-shot AUC = {auc:.3f} ({len(EVAL_CONCERN)} concerning vs {len(EVAL_ORDINARY)} ordinary)")
    for text, p in sorted(zip(EVAL_CONCERN + EVAL_ORDINARY, scores, strict=True), key=lambda pair: -pair[1]):
        print(f"  {p:.3f}  {text}")
    assert auc >= 0.9


def test_head_is_the_scaled_direction_and_reproduces_platt_scaling(encoder_session: TextSession,
                                                                    head: tuple[np.ndarray, float]) -> None:
    weights, bias = head
    concern = encoder_session.embed(SEED_CONCERN).mean(axis=0)
    ordinary = encoder_session.embed(SEED_NO_CONCERN).mean(axis=0)
    direction = (concern - ordinary) / np.linalg.norm(concern - ordinary)
    slope = float(np.linalg.norm(weights))
    np.testing.assert_allclose(weights / slope, direction, atol=1e-5)  # w = a·d with a > 0
    calibration = encoder_session.embed([t for t, _ in SEED_CALIBRATION]) @ weights + bias
    labels = np.array([label for _, label in SEED_CALIBRATION])
    # Calibrated, not saturated: Platt's smoothed targets keep a finite on a separable calibration set.
    assert np.all(calibration[labels == 1] > 0) and np.all(calibration[labels == 0] < 0)
    assert 1 < slope < 100


def test_calibration_that_inverts_the_direction_is_refused(encoder_session: TextSession) -> None:
    flipped = [(text, 1 - label) for text, label in SEED_CALIBRATION]
    with pytest.raises(ValueError, match="inverted"):
        zero_shot_head(encoder_session.embed, SEED_CONCERN, SEED_NO_CONCERN, flipped)
    with pytest.raises(ValueError, match="both verdicts"):
        zero_shot_head(encoder_session.embed, SEED_CONCERN, SEED_NO_CONCERN, [("hello", 1)])


def test_evaluation_messages_are_not_the_seed_or_calibration_texts() -> None:
    seen = {t.lower() for t in SEED_CONCERN + SEED_NO_CONCERN} | {t.lower() for t, _ in SEED_CALIBRATION}
    assert not seen & {t.lower() for t in EVAL_CONCERN + EVAL_ORDINARY}
