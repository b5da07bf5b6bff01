"""The fused graph is the encoder followed by exactly the linear head; int8 keeps the ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from scipy.stats import spearmanr

from reviewqueue.text.graph import fuse_head
from reviewqueue.text.serving import TextSession
from tests.text.messages import EVAL_CONCERN, EVAL_ORDINARY, FIXED_TEXTS

TEXTS = FIXED_TEXTS + EVAL_CONCERN + EVAL_ORDINARY


def test_fused_scores_equal_encoder_then_numpy_head(session: TextSession, encoder_session: TextSession,
                                                    head: tuple[np.ndarray, float]) -> None:
    weights, bias = head
    # Texts that fit one window: for longer ones score is a max over windows and embed a mean, by design.
    texts = [t for t, n in zip(TEXTS, session.token_counts(TEXTS), strict=True) if n <= session.max_length]
    assert len(texts) == len(TEXTS) - 1
    embeddings = encoder_session.embed(texts)
    expected = 1 / (1 + np.exp(-(embeddings.astype(np.float64) @ weights + bias)))
    np.testing.assert_allclose(session.score(texts), expected, atol=1e-5, rtol=0)
    # The fused graph still hands out the embeddings training needs, unchanged.
    np.testing.assert_allclose(session.embed(texts), embeddings, atol=1e-6, rtol=0)


def test_probabilities_are_the_last_output_and_rows_sum_to_one(fused_dir: Path) -> None:
    onnx_session = ort.InferenceSession(str(fused_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in onnx_session.get_outputs()] == ["embedding", "logit", "probabilities"]
    ids = np.array([[101, 1045, 2342, 102], [101, 7592, 102, 0]], dtype=np.int64)
    outputs = onnx_session.run(None, {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)})
    probabilities = outputs[-1]  # what the generic serving path reads: outputs[-1][:, 1]
    assert probabilities.shape == (2, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probabilities[:, 1], 1 / (1 + np.exp(-outputs[1][:, 0])), atol=1e-6)


def test_fuse_refuses_a_head_of_the_wrong_width_or_a_second_head(encoder_path: Path, fused_dir: Path,
                                                                  tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        fuse_head(encoder_path, np.ones(10), 0.0, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="already has a head"):
        fuse_head(fused_dir / "model.onnx", np.ones(384), 0.0, tmp_path / "twice.onnx")


def test_int8_keeps_the_ranking_and_the_head_in_float(session: TextSession, int8_session: TextSession,
                                                      fused_dir: Path) -> None:
    fp32, int8 = session.score(TEXTS), int8_session.score(TEXTS)
    rho = float(spearmanr(fp32, int8).statistic)
    sizes = {name: (fused_dir / name).stat().st_size / 1e6 for name in ("model.onnx", "model_int8.onnx")}
    print(f"\nint8: Spearman vs fp32 over {len(TEXTS)} texts = {rho:.4f}, max |dp| = {np.abs(fp32 - int8).max():.4f},"
          f" sizes {sizes['model.onnx']:.1f} MB -> {sizes['model_int8.onnx']:.1f} MB")
    assert rho > 0.9
    assert sizes["model_int8.onnx"] < 0.4 * sizes["model.onnx"]
    weights = {t.name: t for t in onnx.load(str(fused_dir / "model_int8.onnx")).graph.initializer}
    assert weights["head/weight"].data_type == onnx.TensorProto.FLOAT  # calibrated head left exact
