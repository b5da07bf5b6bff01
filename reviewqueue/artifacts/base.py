"""The artifact store's interface: where model files are written once and fetched back, verified.

A model version's files (``model.onnx``, and ``tokenizer.json`` for a text model) live under the key prefix
``<model>/<version>/``. What the version row records as ``artifact_path`` is the store's own address for its
``model.onnx``: a local path for the local store (as before the store existed), ``database:<key>`` for the
database store. Every process asks its store for a local path before loading a file (``version_file``), and the
store refuses bytes whose sha256 is not the recorded one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Connection

from reviewqueue.errors import ConfigurationError

__all__ = ["MODEL_FILE", "ArtifactStore", "Stored", "StagedVersion", "sha256_bytes", "sha256_chunks",
           "verified"]

MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Stored:
    """A file as the store holds it."""

    key: str
    sha256: str
    size: int


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """The sha256 and total size of a stream of pieces."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def verified(where: str, actual: str, recorded: str) -> None:
    """Refuse an artifact whose bytes are not the ones recorded when it was stored."""
    if actual != recorded:
        raise ConfigurationError(f"artifact {where} is corrupted: sha256 {actual} != recorded {recorded}; "
                                 "it is not served (restore the file: `reviewqueue artifacts restore MODEL VERSION "
                                 "--from FOLDER`, or register or retrain a new version)")


class StagedVersion(Protocol):
    """A version's files, written where nothing reads them yet; placed once the version row is inserted."""

    sha256: str
    """sha256 of its ``model.onnx`` (what the version row records)."""

    def artifact_path(self, version: int) -> str:
        """What the version row records: the store's address of the placed ``model.onnx``."""
        ...

    def place(self, conn: Connection, version: int) -> None:
        """Make the files readable as ``version`` (inside the transaction that inserts the version row)."""
        ...

    def discard(self) -> None:
        """Remove whatever was written (the run failed or its transaction rolled back)."""
        ...


class ArtifactStore(Protocol):
    """Files written once under a key, fetched to a local path and checked against their sha256."""

    backend: str
    """'local' or 'database' (Settings.artifact_store)."""

    def put(self, key: str, data: bytes | Path, *, conn: Connection | None = None) -> Stored:
        """Store ``data`` under ``key``, never over an existing one; ``conn``: the caller's transaction."""
        ...

    def get(self, key: str, sha256: str | None = None) -> Path:
        """A local path holding the key's bytes, verified (against ``sha256`` too, when given)."""
        ...

    def stage_version(self, model: str, tag: str, files: dict[str, bytes]) -> StagedVersion:
        """Write a candidate version's files aside (``tag``: e.g. the run id, for the staging folder's name)."""
        ...

    def version_file(self, artifact_path: str, sha256: str) -> Path:
        """The local path of a version's ``model.onnx`` (its sibling files beside it), as its row records it."""
        ...
