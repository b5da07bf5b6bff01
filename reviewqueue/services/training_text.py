"""Training a text model: zero-shot head for version 1, a logistic-regression head on labelled embeddings
after that. Every version is ONE fused ONNX graph (encoder + mean pooling + L2 norm + head + sigmoid) with
its tokenizer beside it; the encoder is exported once per artifact store and reused.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reviewqueue.errors import ReviewQueueError
from reviewqueue.registry import ModelSpec
from reviewqueue.services.context import AppContext

ENCODER_FOLDER = "_encoder"


def encoder_dir(ctx: AppContext, spec: ModelSpec) -> Path:
    """Export the sentence encoder to ONNX once (torch is needed only here), then reuse it."""
    folder = Path(ctx.settings.artifact_dir) / spec.name / ENCODER_FOLDER
    if not (folder / "encoder.onnx").is_file():
        from reviewqueue.text.export import export_encoder
        from reviewqueue.text.locate import minilm_dir

        staging = Path(tempfile.mkdtemp(prefix="encoder-", dir=folder.parent if folder.parent.exists() else None))
        export_encoder(minilm_dir(), staging)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        staging.replace(folder)
    return folder


def _embedder(folder: Path) -> Any:
    from reviewqueue.text.serving import TextSession

    return TextSession(folder, model_file="encoder.onnx")


def _texts_and_labels(spec: ModelSpec, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    field = spec.features.text_feature or ""
    return frame[field].astype(str).tolist(), frame["label"].to_numpy().astype(int)


def _score_folder(folder: Path, texts: list[str]) -> np.ndarray:
    from reviewqueue.text.serving import TextSession

    return np.asarray(TextSession(folder).score(texts)) if texts else np.empty((0,), dtype=np.float32)


def fit_text(ctx: AppContext, spec: ModelSpec, labelled: Any, champion: Any, progress: Any) -> Any:
    from reviewqueue.services.training import Candidate
    from reviewqueue.text.graph import fuse_head
    from reviewqueue.text.zero_shot import zero_shot_head

    progress("exporting the sentence encoder (first run only)", 0.05)
    encoder = encoder_dir(ctx, spec)
    embedder = _embedder(encoder)
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
