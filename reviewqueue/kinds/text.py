"""Text models: zero-shot head for version 1, a logistic-regression head on labelled embeddings after that.

Every version is ONE fused ONNX graph (encoder + mean pooling + L2 norm + head + sigmoid) with its tokenizer
beside it; the encoder is exported once per artifact store and reused. Serving needs onnxruntime and tokenizers
only: torch and transformers are imported lazily, by the one-time encoder export.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reviewqueue.errors import ReviewQueueError
from reviewqueue.kinds.base import Artifact, Fitted, fit_estimator
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.providers import OrtRuntime
from reviewqueue.text.graph import fuse_head
from reviewqueue.text.serving import TextSession, session_options
from reviewqueue.text.zero_shot import zero_shot_head

__all__ = ["ENCODER_FOLDER", "TEXT", "LinearHead", "TextKind", "TextScorer", "encoder_dir"]

ENCODER_FOLDER = "_encoder"


def encoder_dir(artifact_dir: Path, spec: ModelSpec) -> Path:
    """Export the sentence encoder to ONNX once (torch is needed only here), then reuse it."""
    folder = Path(artifact_dir) / spec.name / ENCODER_FOLDER
    if not (folder / "encoder.onnx").is_file():
        from reviewqueue.text.export import export_encoder  # torch + transformers: heavy, training only
        from reviewqueue.text.locate import minilm_dir

        staging = Path(tempfile.mkdtemp(prefix="encoder-", dir=folder.parent if folder.parent.exists() else None))
        export_encoder(minilm_dir(), staging)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        staging.replace(folder)
    return folder


@dataclass(frozen=True)
class LinearHead:
    """p = sigmoid(w · E(text) + b): what every text version serves, fused after the encoder."""

    weights: np.ndarray
    bias: float
    name: str


def _embed_frames(spec: ModelSpec, encoder: Path, frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    field = spec.features.text_feature or ""
    embedder = TextSession(encoder, model_file="encoder.onnx")
    encoded: list[pd.DataFrame] = []
    for frame in frames:
        texts = frame[field].astype(str).tolist()
        matrix = (np.asarray(embedder.embed(texts), dtype=np.float64) if texts
                  else np.empty((0, 0), dtype=np.float64))
        out = pd.DataFrame(matrix, columns=[f"e{i}" for i in range(matrix.shape[1])])
        out["label"] = frame["label"].to_numpy().astype(int)
        encoded.append(out)
    return encoded


class TextKind:
    """Embeddings are computed once per set of rows (``encode``); folds then fit only the linear head."""

    name = "text"

    def encode(self, spec: ModelSpec, frames: Sequence[pd.DataFrame], *, artifact_dir: Path) -> list[pd.DataFrame]:
        return _embed_frames(spec, encoder_dir(artifact_dir, spec), frames)

    def initial(self, spec: ModelSpec, *, artifact_dir: Path) -> Fitted | None:
        """The zero-shot head (text.zero_shot) when the model declares one."""
        zs = spec.zero_shot
        if zs is None:
            return None
        embedder = TextSession(encoder_dir(artifact_dir, spec), model_file="encoder.onnx")
        weights, bias = zero_shot_head(embedder.embed, zs.positive, zs.negative, zs.calibration,
                                       names=(spec.positive_verdict, spec.negative_verdict))
        return Fitted(LinearHead(np.asarray(weights, dtype=np.float64), float(bias), "zero-shot"),
                      trained_on_labels=False)

    def fit(self, spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
        fitted = fit_estimator(spec, frame)
        estimator = fitted.model
        if not hasattr(estimator, "coef_") or not hasattr(estimator, "intercept_"):
            raise ReviewQueueError(f"model {spec.name!r}: train() must return a linear classifier (coef_, "
                                   "intercept_) to fuse into the ONNX graph")
        head = LinearHead(np.asarray(estimator.coef_, dtype=np.float64).reshape(-1),
                          float(np.asarray(estimator.intercept_).reshape(-1)[0]), type(estimator).__name__)
        return Fitted(head, fitted.warnings, fitted.converged)

    def score(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame) -> np.ndarray:
        head: LinearHead = fitted.model
        if frame.empty:
            return np.empty((0,), dtype=np.float64)
        matrix = frame.drop(columns="label").to_numpy(np.float64)
        return np.asarray(1.0 / (1.0 + np.exp(-(matrix @ head.weights + head.bias))))

    def export(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame, *, artifact_dir: Path) -> Artifact:
        """Encoder + head fused into one ONNX graph, with the tokenizer beside it."""
        head: LinearHead = fitted.model
        encoder = encoder_dir(artifact_dir, spec)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            fuse_head(encoder / "encoder.onnx", head.weights.astype(np.float32), head.bias, folder / "model.onnx")
            shutil.copyfile(encoder / "tokenizer.json", folder / "tokenizer.json")
            files = {name: (folder / name).read_bytes() for name in ("model.onnx", "tokenizer.json")}
        if fitted.trained_on_labels:
            described: dict[str, Any] = {"head": head.name, "n_train_rows": len(frame)}
            hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
        else:
            zs = spec.zero_shot
            phrases = [*zs.positive, *zs.negative] if zs else []
            described = {"head": head.name, "n_phrases": len(phrases)}
            hashed = "\n".join(phrases).encode()
        return Artifact(
            files=files,
            input_schema={"features": spec.features.to_json(), "input": "text",
                          "tokenizer_sha256": hashlib.sha256(files["tokenizer.json"]).hexdigest()},
            fingerprint=hashlib.sha256(hashed).hexdigest(),
            lineage={"encoder": "all-MiniLM-L6-v2",
                     "encoder_sha256": hashlib.sha256((encoder / "encoder.onnx").read_bytes()).hexdigest(),
                     **described},
        )

    def score_version(self, spec: ModelSpec, artifact_path: str, rows: pd.DataFrame,
                      runtime: OrtRuntime | None = None) -> np.ndarray:
        texts = rows[spec.features.text_feature or ""].astype(str).tolist()
        if not texts:
            return np.empty((0,), dtype=np.float64)
        runtime = runtime or OrtRuntime()
        session = TextSession(Path(artifact_path).parent, model_file=Path(artifact_path).name,
                              providers=runtime.resolved_providers(), options=runtime.options())
        return np.asarray(session.score(texts), dtype=np.float64)

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> TextScorer:
        session = TextSession(artifact_path.parent, model_file=artifact_path.name, providers=providers,
                              options=session_options(threads), sha256=sha256)
        return TextScorer(spec, session)


class TextScorer:
    def __init__(self, spec: ModelSpec, session: TextSession) -> None:
        self.spec = spec
        self.session = session
        self.field = spec.features.text_feature or ""

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.asarray(self.session.score([r[self.field] for r in rows]), dtype=np.float32)

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]:
        """Leave-one-word-out on the words of this text only; spans let the UI highlight them."""
        return [
            {"feature": self.field, "value": w["word"], "contribution": float(w["contribution"]),
             "start": int(w["start"]), "end": int(w["end"])}
            for w in self.session.explain(row[self.field])
        ]


TEXT = TextKind()
