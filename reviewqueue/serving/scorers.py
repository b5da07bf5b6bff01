"""Scorers per model version, cached; a model's older versions are dropped when its champion changes.

What a version needs to score and explain is its kind's business (``reviewqueue.kinds``: tabular = one ONNX graph
fed a float matrix; text = one fused encoder + head graph fed token ids). This cache only keys them by version id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reviewqueue.kinds import Scorer, as_recorded, kind_for
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.providers import OrtRuntime, ServingConfig
from reviewqueue.serving.sessions import SessionCache, sha256_file

if TYPE_CHECKING:
    from reviewqueue.artifacts import ArtifactStore

__all__ = ["Scorer", "ScorerCache"]

log = logging.getLogger(__name__)


class ScorerCache:
    """Scorers by version id, loaded once, verified against the recorded sha256.

    Version ids only grow, so the highest id asked for a model is its newest champion: when a higher one
    appears, the sessions of that model's other versions are evicted (retired versions would otherwise stay in
    memory for the life of the process). An older version asked for later (explaining an old item) loads again
    and stays until the next champion change.

    ``runtime``: the configured providers and threads (``OrtRuntime.from_settings``); a version's applied
    serving config (``bench-model --apply``) fills in what is not configured and may name another file
    (``model.int8.onnx``). A caller that read the version's row passes its config; when it differs from the one
    the loaded scorer was built with, the version loads again: an applied config serves from the next request.
    """

    def __init__(self, sessions: SessionCache | None = None, *, threads: int = 0,
                 runtime: OrtRuntime | None = None, store: ArtifactStore | None = None) -> None:
        # where a version's recorded artifact_path is fetched from (None: it is a local path, read as is)
        self.store = store
        self.runtime = runtime or OrtRuntime(intra_op_threads=threads)
        self.sessions = sessions or SessionCache(threads=self.runtime.intra_op_threads)
        self._configs: dict[int, ServingConfig | None] = {}  # version id → the config its scorer was built with
        self._versions: dict[str, set[int]] = {}  # model name → version ids loaded for it
        self._newest: dict[str, int] = {}  # model name → highest version id asked for
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return self.runtime.resolved_providers()

    @property
    def threads(self) -> int:
        return self.runtime.intra_op_threads

    def get(self, spec: ModelSpec, version_id: int, artifact_path: str, sha256: str,
            config: Mapping[str, Any] | None = None, input_schema: Mapping[str, Any] | None = None) -> Scorer:
        """The version's scorer. ``config``: its stored serving config as the caller read it ({} = none
        applied); None = not read by this caller, whatever is loaded serves. ``input_schema``: the version's
        recorded one (a brought-in file is read where its version recorded, kinds.as_recorded)."""
        self._note(spec.name, version_id)
        spec = as_recorded(spec, input_schema)
        stored = ServingConfig.from_json(config)
        if config is not None and version_id in self.sessions and self._configs.get(version_id) != stored:
            self.sessions.evict(keep=self.sessions.version_ids() - {version_id})  # applied elsewhere: reload
        if config is None:
            stored = self._configs.get(version_id)
        scorer: Scorer = self.sessions.get_or_load(
            version_id, lambda: self._load(spec, version_id, artifact_path, sha256, stored))
        return scorer

    def _load(self, spec: ModelSpec, version_id: int, artifact_path: str, sha256: str,
              stored: ServingConfig | None) -> Scorer:
        """Load with the configured runtime over the stored config; its file when it is here, else the artifact."""
        runtime = self.runtime.over(stored)
        path, digest = self._local(artifact_path, sha256), sha256
        if stored is not None and stored.model_file != path.name:
            variant = path.parent / stored.model_file
            found = sha256_file(variant) if variant.is_file() else None
            if found == stored.sha256:
                path, digest = variant, stored.sha256
            else:  # the version's own file still serves: a host's bad variant costs speed, not the model
                log.warning("serving config file missing or corrupted on this host; serving the version's file",
                            extra={"action": "serving_variant_missing" if found is None
                                   else "serving_variant_corrupted", "version_id": version_id,
                                   "file": str(variant), "sha256": found, "recorded_sha256": stored.sha256})
        scorer = kind_for(spec).load_scorer(spec, path, digest, runtime.resolved_providers(),
                                            runtime.intra_op_threads)
        self._configs[version_id] = stored
        return scorer

    def _local(self, artifact_path: str, sha256: str) -> Path:
        """The version's model file on this host (fetched from the artifact store and verified when it is not)."""
        return self.store.version_file(artifact_path, sha256) if self.store is not None else Path(artifact_path)

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
