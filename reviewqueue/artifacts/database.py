"""The database artifact store: every host reads the same files from the database, through a local cache.

Files are rows of ``artifacts`` (key, sha256, size) with their bytes in ``artifact_chunks`` (8 MiB pieces, so a
90 MB text encoder is a dozen rows: no single bytea near PostgreSQL's limits, no whole file in the driver twice).
A version's files are inserted in the same transaction as its version row: a version exists with its files or
not at all. A host fetches a file into its cache (``Settings.artifact_dir``) on first use; every fetch, and every
cache hit, is checked against the sha256 recorded in ``artifacts`` (and the version row's, for ``model.onnx``):
a mismatch is refused with a clear error (and an ``artifact_corrupted`` log line, for whoever watches the servers)
and nothing is served from it. A corrupted cache file is fetched again (logged as ``artifact_refetched``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from reviewqueue.artifacts.base import MODEL_FILE, Stored, sha256_bytes, sha256_chunks, verified
from reviewqueue.artifacts.local import DATABASE_PREFIX
from reviewqueue.db import artifacts as queries
from reviewqueue.errors import ConfigurationError, Conflict
from reviewqueue.serving.sessions import sha256_file

__all__ = ["CHUNK_BYTES", "DatabaseStore"]

CHUNK_BYTES = 8 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass
class _DatabaseStaged:
    store: DatabaseStore
    model: str
    files: dict[str, bytes]
    sha256: str

    def artifact_path(self, version: int) -> str:
        return DATABASE_PREFIX + f"{self.model}/{version}/{MODEL_FILE}"

    def place(self, conn: Connection, version: int) -> None:
        for name, data in self.files.items():
            self.store.put(f"{self.model}/{version}/{name}", data, conn=conn)

    def discard(self) -> None:
        return None  # the rows roll back with the version's transaction


class DatabaseStore:
    backend = "database"

    def __init__(self, engine: Engine, cache_dir: Path) -> None:
        self.engine = engine
        self.reader = queries.reading_engine(engine)
        self.cache_dir = Path(cache_dir)

    def put(self, key: str, data: bytes | Path, *, conn: Connection | None = None) -> Stored:
        content = data.read_bytes() if isinstance(data, Path) else data
        if conn is None:
            with self.engine.begin() as own:
                return self.put(key, content, conn=own)
        stored = Stored(key, sha256_bytes(content), len(content))
        pieces = [content[i:i + CHUNK_BYTES] for i in range(0, len(content), CHUNK_BYTES)] or [b""]
        if queries.artifact(conn, key) is not None:  # a racing writer fails on the primary key instead
            raise Conflict(f"artifact {key!r} is already stored; artifacts are never written over", field="key")
        queries.insert_artifact(conn, key, stored.sha256, stored.size, len(pieces), datetime.now(UTC))
        for seq, piece in enumerate(pieces):
            queries.insert_chunk(conn, key, seq, piece)
        return stored

    def is_sound(self, row: queries.ArtifactRow) -> bool:
        """Whether the stored bytes of ``row`` are the ones its sha256 records (read through, nothing cached)."""
        with self.reader.connect() as conn:
            actual, size = sha256_chunks(queries.chunk_contents(conn, row.key, row.chunks))
        return actual == row.sha256 and size == row.size

    def restore(self, conn: Connection, row: queries.ArtifactRow, data: bytes) -> None:
        """Write ``data`` back as the stored bytes of ``row``: only the file it records (same sha256), so an
        artifact still never changes, it is mended. The caller checked the sha256 and owns the transaction."""
        if sha256_bytes(data) != row.sha256:
            raise ConfigurationError(f"artifact {row.key!r}: that file is not the one recorded", field="file")
        queries.replace_chunks(conn, row.key, [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
                               or [b""])

    def get(self, key: str, sha256: str | None = None) -> Path:
        with self.reader.connect() as conn:
            row = queries.artifact(conn, key)
            if row is None:
                raise ConfigurationError(f"artifact {key!r} is not in the database artifact store")
            if sha256 is not None:
                _verified(key, f"{key} (database row)", row.sha256, sha256)
            return self._cached(conn, row)

    def stage_version(self, model: str, tag: str, files: dict[str, bytes]) -> _DatabaseStaged:
        return _DatabaseStaged(self, model, dict(files), sha256_bytes(files[MODEL_FILE]))

    def version_file(self, artifact_path: str, sha256: str) -> Path:
        """Fetch (or find in the cache) every file of the version, verified; the path of its ``model.onnx``.

        A version recorded before this host switched stores has a local path: served if this host has it.
        """
        if not artifact_path.startswith(DATABASE_PREFIX):
            path = Path(artifact_path)
            if not path.is_file():
                raise ConfigurationError(f"this version's file is on another host's disk ({artifact_path}), not in "
                                         "the database artifact store; register or retrain it from a host that "
                                         "uses REVIEWQUEUE_ARTIFACT_STORE=database")
            return path
        key = artifact_path.removeprefix(DATABASE_PREFIX)
        folder = key.rpartition("/")[0] + "/"
        with self.reader.connect() as conn:
            rows = {row.key: row for row in queries.artifacts_under(conn, folder)}
            if key not in rows:
                raise ConfigurationError(f"artifact {key!r} is not in the database artifact store")
            _verified(key, f"{key} (database row)", rows[key].sha256, sha256)
            paths = {k: self._cached(conn, row) for k, row in rows.items()}
        return paths[key]

    def _cached(self, conn: Connection, row: queries.ArtifactRow) -> Path:
        """The cache's copy of a stored file: kept if its sha256 still matches, else fetched again, verified."""
        target = self.cache_dir / row.key
        if target.is_file():
            cached = sha256_file(target)
            if cached == row.sha256:
                return target
            # intended (the store's copy is the truth), but a cache that keeps going bad is worth seeing
            log.warning("cached artifact corrupted; fetched again", extra={
                "action": "artifact_refetched", "key": row.key, "path": str(target), "sha256": cached,
                "recorded_sha256": row.sha256})
        target.parent.mkdir(parents=True, exist_ok=True)
        self._fetch(conn, row, target)
        return target

    def _fetch(self, conn: Connection, row: queries.ArtifactRow, target: Path) -> None:
        """The stored bytes into ``target``, through a temporary file removed whatever happens (a failed read or a
        refused sha256 leaves nothing behind in the cache folder)."""
        # opened here and closed by the `with handle` below, so that its name is known before anything can fail
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".fetch-", delete=False)  # noqa: SIM115
        fetched = Path(handle.name)
        try:
            with handle:
                for piece in queries.chunk_contents(conn, row.key, row.chunks):
                    handle.write(piece)
            _verified(row.key, f"{row.key} (fetched from the database)", sha256_file(fetched), row.sha256)
            os.replace(fetched, target)  # atomic: a concurrent reader sees the old copy or the whole new one
        finally:
            fetched.unlink(missing_ok=True)


def _verified(key: str, where: str, actual: str, recorded: str) -> None:
    """``verified``, with a server log line when the stored copy is refused: the error reaches the caller (an
    API request's client, a worker's job), the log reaches whoever has to restore the file."""
    if actual != recorded:
        log.error("stored artifact refused: sha256 differs from the recorded one", extra={
            "action": "artifact_corrupted", "key": key, "where": where, "sha256": actual,
            "recorded_sha256": recorded})
    verified(where, actual, recorded)
