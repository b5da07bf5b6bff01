"""Where model files live: ``ArtifactStore`` with a local-disk backend (the embedded default) and a database
backend that several API and worker hosts share (``REVIEWQUEUE_ARTIFACT_STORE=local|database``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from reviewqueue.artifacts.base import MODEL_FILE, ArtifactStore, StagedVersion, Stored
from reviewqueue.artifacts.database import CHUNK_BYTES, DatabaseStore
from reviewqueue.artifacts.local import LocalStore
from reviewqueue.settings import Settings

__all__ = ["CHUNK_BYTES", "MODEL_FILE", "ArtifactStore", "DatabaseStore", "LocalStore", "StagedVersion", "Stored",
           "artifact_store"]


def artifact_store(settings: Settings, engine: Engine) -> ArtifactStore:
    """The store Settings.artifact_store names; the database one caches its files under Settings.artifact_dir."""
    if settings.artifact_store == "database":
        return DatabaseStore(engine, Path(settings.artifact_dir))
    return LocalStore(Path(settings.artifact_dir))
