"""skl2onnx converts every estimator models/ trains, and the ONNX graph scores as sklearn does.

skl2onnx lags scikit-learn (DESIGN.md §5): pyproject pins a pair that converts; this test is what says so.
The fraud model's own train() fits a small stratified sample of its own dataset, encoded as training encodes it.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.linear_model import LogisticRegression

from models import fraud
from reviewqueue.kinds.tabular import encode_frame, export_onnx
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec
from reviewqueue.serving.sessions import predict_positive

TOLERANCE = 1e-5


def _max_gap(estimator: object, x: pd.DataFrame) -> float:
    """max |ONNX score − sklearn predict_proba| over the rows of x (float32 on both sides, as served)."""
    x32 = x.astype(np.float32)
    session = ort.InferenceSession(export_onnx(estimator, x.shape[1]), providers=["CPUExecutionProvider"])
    onnx_scores = predict_positive(session, x32.to_numpy())
    sklearn_scores = estimator.predict_proba(x32)[:, 1]  # type: ignore[attr-defined]
    return float(np.max(np.abs(onnx_scores - sklearn_scores)))


def test_the_fraud_models_estimator_converts_and_scores_as_sklearn_does() -> None:
    spec: ModelSpec = getattr(fraud.train, SPEC_ATTRIBUTE)
    assert spec.dataset is not None
    sample = spec.dataset().groupby("label", group_keys=False).head(200).reset_index(drop=True)
    train = encode_frame(spec, sample)
    estimator = spec.train(train.copy())
    assert _max_gap(estimator, train[spec.features.names]) < TOLERANCE


def test_a_logistic_regression_converts_and_scores_as_sklearn_does() -> None:
    # self_harm trains a LogisticRegression head; it is fused into the encoder graph by text.graph.fuse_head
    # rather than converted by skl2onnx, but a tabular model may use one, so the pin must convert it too.
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 8)), columns=[f"f{i}" for i in range(8)])
    y = (x["f0"] + 0.5 * x["f1"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    assert _max_gap(LogisticRegression().fit(x, y), x) < TOLERANCE
