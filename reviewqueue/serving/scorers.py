"""Scorers per model version, cached; a model's older versions are dropped when its champion changes.

What a version needs to score and explain is its kind's business (``reviewqueue.kinds``: tabular = one ONNX graph
fed a float matrix; text = one fused encoder + head graph fed token ids). This cache only keys them by version id.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from reviewqueue.kinds import Scorer, kind_for
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.sessions import SessionCache

__all__ = ["Scorer", "ScorerCache"]

log = logging.getLogger(__name__)


class ScorerCache:
    """Scorers by version id, loaded once, verified against the recorded sha256.

    Version ids only grow, so the highest id asked for a model is its newest champion: when a higher one
    appears, the sessions of that model's other versions are evicted (retired versions would otherwise stay in
    memory for the life of the process). An older version asked for later (explaining an old item) loads again
    and stays until the next champion change.
    """

    def __init__(self, sessions: SessionCache | None = None, *, threads: int = 0) -> None:
        self.sessions = sessions or SessionCache(threads=threads)
        self._versions: dict[str, set[int]] = {}  # model name → version ids loaded for it
        self._newest: dict[str, int] = {}  # model name → highest version id asked for
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return self.sessions.providers

    @property
    def threads(self) -> int:
        return self.sessions.threads

    def get(self, spec: ModelSpec, version_id: int, artifact_path: str, sha256: str) -> Scorer:
        self._note(spec.name, version_id)
        scorer: Scorer = self.sessions.get_or_load(version_id, lambda: kind_for(spec).load_scorer(
            spec, Path(artifact_path), sha256, self.providers, self.threads))
        return scorer

    def _note(self, model_name: str, version_id: int) -> None:
        with self._lock:
            self._versions.setdefault(model_name, set()).add(version_id)
            if version_id <= self._newest.get(model_name, 0):
                return
            self._newest[model_name] = version_id
            stale = self._versions[model_name] - {version_id}
            self._versions[model_name] = {version_id}
        if stale:
            self.sessions.evict(keep=self.sessions.version_ids() - stale)
            log.info("old model sessions evicted", extra={"action": "sessions_evicted", "model": model_name,
                                                           "version_ids": sorted(stale)})
