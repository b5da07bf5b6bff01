"""The local-disk artifact store: files under ``Settings.artifact_dir`` (the embedded default).

Behaviour as before the store existed: a version's folder is staged under ``<model>/.staging-…`` and renamed to
``<model>/<version>`` once its row is inserted (a reader sees no folder or the whole one); the row records the
absolute path of its ``model.onnx``, and loaders verify that file's sha256 before serving it. Several hosts can
share this store only through a shared volume; otherwise use the database store.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from reviewqueue.artifacts.base import MODEL_FILE, Stored, sha256_bytes, verified
from reviewqueue.errors import ConfigurationError, Conflict, ReviewQueueError
from reviewqueue.serving.sessions import sha256_file

__all__ = ["LocalStore"]

DATABASE_PREFIX = "database:"


@dataclass
class _LocalStaged:
    staging: Path
    sha256: str
    placed: Path | None = None

    def artifact_path(self, version: int) -> str:
        return str((self.staging.parent / str(version) / MODEL_FILE).resolve())

    def place(self, conn: Connection, version: int) -> None:
        """Rename the staged folder to its version's, never over one that exists."""
        final = self.staging.parent / str(version)
        if final.exists():
            raise ReviewQueueError(f"artifact folder {final} already exists though no version row names it; "
                                   "move it aside, then retrain")
        self.staging.rename(final)
        self.placed = final

    def discard(self) -> None:
        shutil.rmtree(self.placed or self.staging, ignore_errors=True)  # ours alone: nothing names it


class LocalStore:
    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes | Path, *, conn: Connection | None = None) -> Stored:
        target = self.root / key
        if target.exists():
            raise Conflict(f"artifact {key!r} is already stored; artifacts are never written over", field="key")
        target.parent.mkdir(parents=True, exist_ok=True)
        content = data.read_bytes() if isinstance(data, Path) else data
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".put-", delete=False) as handle:
            handle.write(content)
        Path(handle.name).rename(target)
        return Stored(key, sha256_bytes(content), len(content))

    def get(self, key: str, sha256: str | None = None) -> Path:
        path = self.root / key
        if not path.is_file():
            raise ConfigurationError(f"artifact {key!r} is missing from {self.root}")
        if sha256 is not None:
            verified(str(path), sha256_file(path), sha256)
        return path

    def stage_version(self, model: str, tag: str, files: dict[str, bytes]) -> _LocalStaged:
        parent = self.root / model
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{tag}-", dir=parent))
        for name, data in files.items():
            (staging / name).write_bytes(data)
        return _LocalStaged(staging, sha256_file(staging / MODEL_FILE))

    def version_file(self, artifact_path: str, sha256: str) -> Path:
        """The recorded path itself (its loader verifies the sha256, as it always did)."""
        if artifact_path.startswith(DATABASE_PREFIX):
            raise ConfigurationError(
                f"this version's files are in the database artifact store ({artifact_path}); this host uses the "
                "local one: set REVIEWQUEUE_ARTIFACT_STORE=database")
        return Path(artifact_path)
