"""ONNX Runtime sessions per model version.

Sessions are keyed by version id and verified against the stored sha256 when loaded, so a swapped file is
refused instead of served. The champion is looked up per request by the service layer (one indexed query);
a new champion therefore serves on the next request in every process, with no restart and no shared state.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from reviewqueue.errors import ConfigurationError
from reviewqueue.serving.providers import choose_providers, ort_threads, session_options  # one builder

__all__ = ["SessionCache", "choose_providers", "load_session", "ort_threads", "predict_positive",
           "session_options", "sha256_file", "verify_sha256"]

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, sha256: str) -> None:
    """Refuse an artifact whose bytes are not the ones training recorded."""
    actual = sha256_file(path)
    if actual != sha256:
        raise ConfigurationError(f"artifact {path} sha256 {actual} != recorded {sha256}")


def load_session(path: Path, sha256: str, providers: Sequence[str], threads: int = 0) -> ort.InferenceSession:
    """One verified ONNX Runtime session for a tabular artifact."""
    verify_sha256(path, sha256)
    session = ort.InferenceSession(str(path), session_options(threads), providers=list(providers))
    log.info("model session loaded", extra={"action": "session_loaded", "path": str(path),
                                             "providers": session.get_providers()})
    return session


class SessionCache:
    """Loaded sessions (or scorers wrapping them) by version id. Thread-safe; loads each version once."""

    def __init__(self, providers: Sequence[str] | None = None, threads: int = 0) -> None:
        self._providers = list(providers) if providers else choose_providers()
        self.threads = threads
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    def __contains__(self, version_id: object) -> bool:
        return version_id in self._sessions

    def version_ids(self) -> set[int]:
        return set(self._sessions)

    def get(self, version_id: int, artifact_path: str, sha256: str) -> ort.InferenceSession:
        """The ORT session of a tabular version, loaded and verified on first use."""
        return self.get_or_load(
            version_id, lambda: load_session(Path(artifact_path), sha256, self._providers, self.threads))

    def get_or_load(self, version_id: int, load: Callable[[], Any]) -> Any:
        """What ``load()`` returned for this version id the first time; ``load`` runs once per version."""
        session = self._sessions.get(version_id)
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(version_id)
            if session is None:
                session = load()
                self._sessions[version_id] = session
        return session

    def evict(self, keep: set[int]) -> None:
        """Drop every loaded version not in ``keep`` (a later request for one loads it again)."""
        with self._lock:
            for version_id in list(self._sessions):
                if version_id not in keep:
                    del self._sessions[version_id]


def predict_positive(session: ort.InferenceSession, matrix: np.ndarray) -> np.ndarray:
    """P(positive class) for each row. Models are exported with zipmap off: outputs (label, probabilities)."""
    if len(matrix) == 0:
        return np.empty((0,), dtype=np.float32)
    input_name = session.get_inputs()[0].name
    outputs = session.run(None, {input_name: matrix.astype(np.float32, copy=False)})
    probabilities = outputs[-1]
    return np.asarray(probabilities)[:, 1]
