"""ONNX Runtime sessions per model version.

Sessions are keyed by version id and verified against the stored sha256 when loaded, so a swapped file is
refused instead of served. The champion is looked up per request by the service layer (one indexed query);
a new champion therefore serves on the next request in every process, with no restart and no shared state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from reviewqueue.errors import ConfigurationError

log = logging.getLogger(__name__)


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    """CUDA first when this onnxruntime build and machine offer it, CPU always as the fallback."""
    available = list(available if available is not None else ort.get_available_providers())
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*chosen, "CPUExecutionProvider"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # On a small machine several processes (API, worker) share the cores: don't let each spin up a full pool.
    threads = int(os.environ.get("REVIEWQUEUE_ORT_THREADS", "0")) or max(1, (os.cpu_count() or 2) // 2)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


class SessionCache:
    """Loaded ORT sessions by version id. Thread-safe; loads each version once."""

    def __init__(self, providers: Sequence[str] | None = None) -> None:
        self._providers = list(providers) if providers else choose_providers()
        self._sessions: dict[int, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    def get(self, version_id: int, artifact_path: str, sha256: str) -> ort.InferenceSession:
        session = self._sessions.get(version_id)
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(version_id)
            if session is None:
                path = Path(artifact_path)
                actual = sha256_file(path)
                if actual != sha256:
                    raise ConfigurationError(f"artifact {path} sha256 {actual} != recorded {sha256}")
                session = ort.InferenceSession(str(path), _session_options(), providers=self._providers)
                log.info("model session loaded", extra={"action": "session_loaded", "version_id": version_id,
                                                         "providers": session.get_providers()})
                self._sessions[version_id] = session
        return session

    def evict(self, keep: set[int]) -> None:
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
