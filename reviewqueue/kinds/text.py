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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reviewqueue.db.versions import Champion
from reviewqueue.errors import ReviewQueueError
from reviewqueue.kinds.base import Candidate, LabelledData, Progress
from reviewqueue.registry import ModelSpec
from reviewqueue.text.graph import fuse_head
from reviewqueue.text.serving import TextSession, session_options
from reviewqueue.text.zero_shot import zero_shot_head

__all__ = ["ENCODER_FOLDER", "TEXT", "TextKind", "TextScorer", "encoder_dir", "fit_text"]

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


def _texts_and_labels(spec: ModelSpec, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    field = spec.features.text_feature or ""
    return frame[field].astype(str).tolist(), frame["label"].to_numpy().astype(int)


def _score_folder(folder: Path, texts: list[str]) -> np.ndarray:
    return np.asarray(TextSession(folder).score(texts)) if texts else np.empty((0,), dtype=np.float32)


def fit_text(spec: ModelSpec, labelled: LabelledData, champion: Champion | None, progress: Progress, *,
             artifact_dir: Path) -> Candidate:
    """Zero-shot head with no champion (when declared), else a linear head on labelled embeddings; fused."""
    progress("exporting the sentence encoder (first run only)", 0.05)
    encoder = encoder_dir(artifact_dir, spec)
    embedder = TextSession(encoder, model_file="encoder.onnx")
    train_texts, train_y = _texts_and_labels(spec, labelled.train)
    holdout_texts, holdout_y = _texts_and_labels(spec, labelled.holdout)
    progress("training", 0.2)
    if champion is None and spec.zero_shot is not None:
        zs = spec.zero_shot
        weights, bias = zero_shot_head(embedder.embed, zs.positive, zs.negative, zs.calibration)
        head: dict[str, Any] = {"head": "zero-shot", "n_phrases": len(zs.positive) + len(zs.negative)}
        frame = pd.DataFrame({"text": [*zs.positive, *zs.negative]})
    else:
        if len(set(train_y.tolist())) < 2:
            raise ReviewQueueError(f"model {spec.name!r}: training needs labelled examples of both verdicts "
                                   f"(have {len(train_y)} training labels)")
        embeddings = embedder.embed(train_texts)
        frame = pd.DataFrame(embeddings, columns=[f"e{i}" for i in range(embeddings.shape[1])])
        frame["label"] = train_y
        estimator = spec.train(frame.copy())
        if not hasattr(estimator, "coef_") or not hasattr(estimator, "intercept_"):
            raise ReviewQueueError(f"model {spec.name!r}: train() must return a linear classifier (coef_, "
                                   "intercept_) to fuse into the ONNX graph")
        weights = np.asarray(estimator.coef_, dtype=np.float32).reshape(-1)
        bias = float(np.asarray(estimator.intercept_).reshape(-1)[0])
        head = {"head": type(estimator).__name__, "n_train_labels": len(train_y)}
    progress("fusing encoder + head into one ONNX graph", 0.6)
    with tempfile.TemporaryDirectory() as scratch:
        candidate_dir = Path(scratch)
        fuse_head(encoder / "encoder.onnx", np.asarray(weights, dtype=np.float32), float(bias),
                  candidate_dir / "model.onnx")
        shutil.copyfile(encoder / "tokenizer.json", candidate_dir / "tokenizer.json")
        progress("evaluating on held-out labels", 0.75)
        candidate_scores = _score_folder(candidate_dir, holdout_texts)
        files = {name: (candidate_dir / name).read_bytes() for name in ("model.onnx", "tokenizer.json")}
    champion_scores = (_score_folder(Path(champion.artifact_path).parent, holdout_texts)
                       if champion is not None else None)
    tokenizer_sha = hashlib.sha256(files["tokenizer.json"]).hexdigest()
    encoder_sha = hashlib.sha256((encoder / "encoder.onnx").read_bytes()).hexdigest()
    return Candidate(
        files=files, y_true=holdout_y, candidate_scores=candidate_scores, champion_scores=champion_scores,
        input_schema={"features": spec.features.to_json(), "input": "text", "tokenizer_sha256": tokenizer_sha},
        fingerprint=hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest(),
        lineage={"encoder": "all-MiniLM-L6-v2", "encoder_sha256": encoder_sha, "n_holdout_labels": len(holdout_y),
                 **head},
    )


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


class TextKind:
    name = "text"

    def fit(self, spec: ModelSpec, labelled: LabelledData, champion: Champion | None, progress: Progress, *,
            artifact_dir: Path) -> Candidate:
        return fit_text(spec, labelled, champion, progress, artifact_dir=artifact_dir)

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> TextScorer:
        session = TextSession(artifact_path.parent, model_file=artifact_path.name, providers=providers,
                              options=session_options(threads), sha256=sha256)
        return TextScorer(spec, session)


TEXT = TextKind()
