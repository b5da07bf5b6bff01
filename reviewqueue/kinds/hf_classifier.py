"""Bring-your-own transformer classifiers: a local ``*ForSequenceClassification`` folder served as a text model.

Registration checks the folder (config.json with a sequence-classification architecture and the declared
``positive_label`` among its labels, weights, tokenizer.json), then exports it once per folder fingerprint with
the text kind's exporter (``text.export.export_classifier``; torch on the CPU, at registration only) into
``<artifact_dir>/<model>/_source/<fingerprint>``. The version is that graph + tokenizer, with the outputs a fused
text version has, so serving, long-text windows and word explanations are the text kind's (onnxruntime +
tokenizers only). reviewqueue never fits it: a changed folder registered again is a candidate for the gate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reviewqueue.byo import TransformerSource
from reviewqueue.errors import ConfigurationError
from reviewqueue.kinds.base import Artifact, Fitted
from reviewqueue.kinds.onnx_file import not_retrainable
from reviewqueue.kinds.text import TEXT, TextScorer
from reviewqueue.registry import ModelSpec
from reviewqueue.text.serving import TextSession

__all__ = ["HF_CLASSIFIER", "HfClassifierKind", "folder_fingerprint", "validate_folder"]

SOURCE_FOLDER = "_source"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def _source(spec: ModelSpec) -> TransformerSource:
    if not isinstance(spec.source, TransformerSource):
        raise ConfigurationError(f"model {spec.name!r} declares no transformer=… folder")
    return spec.source


def validate_folder(spec: ModelSpec) -> TransformerSource:
    """The declared folder can be exported: a sequence classifier that knows ``positive_label``, with its
    weights and tokenizer; a ConfigurationError naming the field otherwise."""
    source = _source(spec)
    folder, where = source.folder, f"model {spec.name!r}: transformer folder {source.folder}"
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConfigurationError(f"{where} has no config.json", field="transformer")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{where}: config.json does not parse: {exc}", field="transformer") from exc
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ConfigurationError(f"{where} is not a sequence classifier (architectures {architectures}; expected "
                                 "a *ForSequenceClassification head, saved with save_pretrained)",
                                 field="transformer")
    labels = [str(v) for v in (config.get("id2label") or {}).values()]
    if source.positive_label not in labels or len(labels) < 2:
        raise ConfigurationError(f"{where}: positive_label {source.positive_label!r} is not one of its labels "
                                 f"{labels}", field="positive_label")
    missing = [n for n in ("tokenizer.json",) if not (folder / n).is_file()]
    if not any((folder / w).is_file() for w in WEIGHTS):
        missing.append(" or ".join(WEIGHTS))
    if missing:
        raise ConfigurationError(f"{where} lacks {', '.join(missing)}", field="transformer")
    return source


def folder_fingerprint(folder: Path) -> str:
    """sha256 over the folder's files (names and contents, sorted): what says a registration is a new model."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def declaration(source: TransformerSource) -> dict[str, Any]:
    """What, beside the folder, decides the exported model's scores."""
    return {"positive_label": source.positive_label, "max_length": source.max_length}


def exported(spec: ModelSpec, artifact_dir: Path) -> tuple[Path, str]:
    """The folder's ONNX export (made once per fingerprint: torch is imported only then) and the fingerprint."""
    source = validate_folder(spec)
    fingerprint = folder_fingerprint(source.folder)
    # the positive label and window are fused into the export: a changed declaration is another export
    declared = hashlib.sha256(json.dumps(declaration(source), sort_keys=True).encode()).hexdigest()
    target = Path(artifact_dir) / spec.name / SOURCE_FOLDER / f"{fingerprint[:16]}-{declared[:8]}"
    if not (target / "model.onnx").is_file():
        from reviewqueue.text.export import export_classifier  # torch + transformers: registration only

        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            export_classifier(source.folder, staging, source.positive_label, source.max_length)
        except Exception as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigurationError(f"model {spec.name!r}: exporting {source.folder} to ONNX failed: {exc}",
                                     field="transformer") from exc
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target, fingerprint


class HfClassifierKind:
    name = "hf_classifier"

    def encode(self, spec: ModelSpec, frames: Sequence[pd.DataFrame], *, artifact_dir: Path) -> list[pd.DataFrame]:
        """Raw texts: the exported graph tokenises and scores them itself."""
        return [frame.reset_index(drop=True) for frame in frames]

    def source_identity(self, spec: ModelSpec) -> tuple[str, dict[str, Any]]:
        source = validate_folder(spec)
        return folder_fingerprint(source.folder), declaration(source)

    def initial(self, spec: ModelSpec, *, artifact_dir: Path) -> Fitted | None:
        folder, fingerprint = exported(spec, artifact_dir)
        return Fitted({"folder": folder, "fingerprint": fingerprint}, trained_on_labels=False)

    def fit(self, spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
        raise ConfigurationError(not_retrainable(spec), field="model")

    def score(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame) -> np.ndarray:
        texts = frame[spec.features.text_feature or ""].astype(str).tolist()
        if not texts:
            return np.empty((0,), dtype=np.float64)
        return np.asarray(TextSession(fitted.model["folder"]).score(texts), dtype=np.float64)

    def export(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame, *, artifact_dir: Path) -> Artifact:
        folder: Path = fitted.model["folder"]
        source = _source(spec)
        files = {name: (folder / name).read_bytes() for name in ("model.onnx", "tokenizer.json")}
        return Artifact(
            files=files,
            input_schema={"features": spec.features.to_json(), "input": "text",
                          "tokenizer_sha256": hashlib.sha256(files["tokenizer.json"]).hexdigest()},
            fingerprint=fitted.model["fingerprint"],
            lineage={"source": str(source.folder), "source_sha256": fitted.model["fingerprint"],
                     "positive_label": source.positive_label, "declaration": declaration(source),
                     "byo": self.name, "max_label_id": 0},
        )

    def score_version(self, spec: ModelSpec, artifact_path: str, rows: pd.DataFrame,
                      runtime: Any = None) -> np.ndarray:
        return TEXT.score_version(spec, artifact_path, rows, runtime)

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> TextScorer:
        return TEXT.load_scorer(spec, artifact_path, sha256, providers, threads)


HF_CLASSIFIER = HfClassifierKind()
