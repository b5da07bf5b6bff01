"""Scorers: what a model version needs to turn validated feature rows into P(positive) and explanations.

Tabular versions are one ONNX graph fed a float matrix; text versions are one fused ONNX graph (encoder +
pooling + head) fed token ids, with the tokenizer stored beside it. Both are cached per version id.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.sessions import SessionCache, predict_positive, sha256_file


class Scorer(Protocol):
    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray: ...

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]: ...


class TabularScorer:
    def __init__(self, spec: ModelSpec, session: Any) -> None:
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


class TextScorer:
    def __init__(self, spec: ModelSpec, session: Any) -> None:
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


class ScorerCache:
    """Scorers by version id, loaded once, verified against the recorded sha256."""

    def __init__(self, sessions: SessionCache | None = None) -> None:
        self.sessions = sessions or SessionCache()
        self._text: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return self.sessions.providers

    def get(self, spec: ModelSpec, version_id: int, artifact_path: str, sha256: str) -> Scorer:
        if spec.kind == "tabular":
            return TabularScorer(spec, self.sessions.get(version_id, artifact_path, sha256))
        session = self._text.get(version_id)
        if session is None:
            with self._lock:
                session = self._text.get(version_id)
                if session is None:
                    session = self._load_text(artifact_path, sha256)
                    self._text[version_id] = session
        return TextScorer(spec, session)

    def _load_text(self, artifact_path: str, sha256: str) -> Any:
        from reviewqueue.text.serving import TextSession  # onnxruntime + tokenizers only

        path = Path(artifact_path)
        actual = sha256_file(path)
        if actual != sha256:
            raise ConfigurationError(f"artifact {path} sha256 {actual} != recorded {sha256}")
        return TextSession(path.parent, providers=self.providers)
