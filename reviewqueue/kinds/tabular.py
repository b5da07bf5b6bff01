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
from sklearn.model_selection import train_test_split

from reviewqueue.db.versions import Champion
from reviewqueue.errors import ReviewQueueError
from reviewqueue.kinds.base import HOLDOUT_FRACTION, Candidate, LabelledData, Progress
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.sessions import load_session, predict_positive

__all__ = ["TABULAR", "TabularKind", "TabularScorer", "base_split", "concat", "encode_frame", "export_onnx",
           "score_onnx"]


def export_onnx(estimator: Any, n_features: int) -> bytes:
    sample = np.zeros((1, n_features), dtype=np.float32)
    onx = to_onnx(estimator, sample, options={id(estimator): {"zipmap": False}}, target_opset=17)
    return bytes(onx.SerializeToString())


def score_onnx(model_bytes_or_path: bytes | str, matrix: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes_or_path, providers=["CPUExecutionProvider"])
    return predict_positive(session, matrix)


def fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def base_split(spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's base dataset split into train and holdout (fixed: random_state=0, stratified)."""
    if spec.dataset is None:
        empty = pd.DataFrame(columns=[*spec.features.names, "label"])
        return empty, empty.copy()
    base = spec.dataset()
    missing = [c for c in [*spec.features.names, "label"] if c not in base.columns]
    if missing:
        raise ReviewQueueError(f"model {spec.name!r}: dataset lacks columns {missing}")
    train, holdout = train_test_split(base, test_size=HOLDOUT_FRACTION, random_state=0, stratify=base["label"])
    return train, holdout


def encode_frame(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[spec.features.names].to_dict("records")
    encoded = pd.DataFrame(spec.features.encode(rows), columns=spec.features.names)
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

    def fit(self, spec: ModelSpec, labelled: LabelledData, champion: Champion | None, progress: Progress, *,
            artifact_dir: Path) -> Candidate:
        """Base dataset + labels, encoded; ``spec.train`` fits; skl2onnx exports; both models score one holdout."""
        progress("loading data", 0.05)
        base_train, base_holdout = base_split(spec)
        train = encode_frame(spec, concat(base_train, labelled.train))
        holdout = encode_frame(spec, concat(base_holdout, labelled.holdout))
        progress("training", 0.15)
        estimator = spec.train(train.copy())
        progress("exporting to ONNX", 0.6)
        model_bytes = export_onnx(estimator, len(spec.features.names))
        progress("evaluating", 0.75)
        matrix = holdout[spec.features.names].to_numpy(np.float32)
        return Candidate(
            files={"model.onnx": model_bytes},
            y_true=holdout["label"].to_numpy(),
            candidate_scores=score_onnx(model_bytes, matrix),
            champion_scores=score_onnx(champion.artifact_path, matrix) if champion else None,
            input_schema={"features": spec.features.to_json(), "input": "float32[N, F]",
                          "reference": reference_values(spec, train)},
            fingerprint=fingerprint(train),
            lineage={"n_train_rows": len(train), "n_holdout_rows": len(holdout),
                     "estimator": type(estimator).__name__},
        )

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> TabularScorer:
        return TabularScorer(spec, load_session(artifact_path, sha256, providers, threads))


TABULAR = TabularKind()
