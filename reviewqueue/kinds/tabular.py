"""Tabular models: an sklearn estimator trained on encoded feature columns, exported with skl2onnx.

Served as one ONNX graph fed a float32 matrix [N, F]; explained by leave-one-feature-out against training medians.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx

from reviewqueue.kinds.base import Artifact, Fitted, base_split, fit_estimator
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.providers import OrtRuntime
from reviewqueue.serving.sessions import load_session, predict_positive

__all__ = ["TABULAR", "TabularKind", "TabularScorer", "base_split", "concat", "encode_frame", "export_onnx",
           "score_onnx"]


def export_onnx(estimator: Any, n_features: int) -> bytes:
    sample = np.zeros((1, n_features), dtype=np.float32)
    onx = to_onnx(estimator, sample, options={id(estimator): {"zipmap": False}}, target_opset=17)
    return bytes(onx.SerializeToString())


def score_onnx(model_bytes_or_path: bytes | str, matrix: np.ndarray, runtime: OrtRuntime | None = None) -> np.ndarray:
    """P(positive) from an ONNX model on the configured providers and threads (auto when none given)."""
    return predict_positive((runtime or OrtRuntime()).session(model_bytes_or_path), matrix)


def fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def encode_frame(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[spec.features.names].to_dict("records")
    matrix = np.asarray(spec.features.encode(rows), dtype=np.float64).reshape(len(rows), len(spec.features.names))
    encoded = pd.DataFrame(matrix, columns=spec.features.names)
    encoded["label"] = frame["label"].to_numpy().astype(int)
    return encoded


def concat(base: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    if extra.empty:
        return base.reset_index(drop=True)
    return pd.concat([base, extra.astype(base.dtypes.to_dict())], ignore_index=True)


def reference_values(spec: ModelSpec, train_encoded: pd.DataFrame) -> dict[str, float]:
    """Per-feature medians: the baseline the explanation swaps each feature to."""
    return {name: float(train_encoded[name].median()) for name in spec.features.names}


class TabularScorer:
    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        return predict_positive(self.session, self.spec.features.encode(rows))

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]:
        """Leave-one-feature-out: the score change when each feature is set to its training median.

        Computed only for the item shown (F+1 rows in one ORT call), with the version that produced the score.
        """
        reference = input_schema.get("reference") or {}
        if not reference:
            return []
        names = self.spec.features.names
        base = self.spec.features.encode([row])
        variants = np.repeat(base, len(names) + 1, axis=0)
        for j, name in enumerate(names):
            variants[j + 1, j] = reference.get(name, variants[j + 1, j])
        scores = predict_positive(self.session, variants)
        contributions = [
            {"feature": name, "value": row[name], "contribution": float(scores[0] - scores[j + 1])}
            for j, name in enumerate(names)
        ]
        return sorted(contributions, key=lambda c: abs(c["contribution"]), reverse=True)


class TabularKind:
    name = "tabular"

    def encode(self, spec: ModelSpec, frames: Sequence[pd.DataFrame], *, artifact_dir: Path) -> list[pd.DataFrame]:
        """Each frame's features encoded as served, as float64 columns, plus ``label``."""
        return [encode_frame(spec, frame) for frame in frames]

    def initial(self, spec: ModelSpec, *, artifact_dir: Path) -> Fitted | None:
        return None

    def fit(self, spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
        return fit_estimator(spec, frame)

    def score(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame) -> np.ndarray:
        if frame.empty:
            return np.empty((0,), dtype=np.float64)
        estimator = fitted.model
        column = list(estimator.classes_).index(1) if 1 in list(estimator.classes_) else -1
        return np.asarray(estimator.predict_proba(frame[spec.features.names].astype(np.float64))[:, column])

    def export(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame, *, artifact_dir: Path) -> Artifact:
        """skl2onnx export (float32 input, as served); the reference medians explanations swap features to."""
        return Artifact(
            files={"model.onnx": export_onnx(fitted.model, len(spec.features.names))},
            input_schema={"features": spec.features.to_json(), "input": "float32[N, F]",
                          "reference": reference_values(spec, frame)},
            fingerprint=fingerprint(frame),
            lineage={"n_train_rows": len(frame), "estimator": type(fitted.model).__name__},
        )

    def score_version(self, spec: ModelSpec, artifact_path: str, rows: pd.DataFrame,
                      runtime: OrtRuntime | None = None) -> np.ndarray:
        if rows.empty:
            return np.empty((0,), dtype=np.float64)
        matrix = np.asarray(spec.features.encode(rows[spec.features.names].to_dict("records")), dtype=np.float32)
        return score_onnx(artifact_path, matrix, runtime)

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> TabularScorer:
        return TabularScorer(spec, load_session(artifact_path, sha256, providers, threads))


TABULAR = TabularKind()
