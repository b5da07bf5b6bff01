"""The database artifact store's statements: files written once under a key, their bytes in ordered chunks.

Read by ``reviewqueue.artifacts.database`` (the store decides chunk sizes and checks every sha256).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Connection, Engine

from reviewqueue.db.tables import artifact_chunks_table as chunks
from reviewqueue.db.tables import artifacts_table as artifacts

__all__ = ["ArtifactRow", "artifact", "artifacts_under", "chunk_contents", "insert_artifact", "insert_chunk",
           "reading_engine", "replace_chunks"]


class ArtifactRow(NamedTuple):
    key: str
    sha256: str
    size: int
    chunks: int


_COLUMNS = (artifacts.c.key, artifacts.c.sha256, artifacts.c.size, artifacts.c.chunks)


def insert_artifact(conn: Connection, key: str, sha256: str, size: int, n_chunks: int, now: datetime) -> None:
    """insert_artifact: record a file under its key (a key is written once: a second insert violates the key)."""
    conn.execute(artifacts.insert().values(key=key, sha256=sha256, size=size, chunks=n_chunks, created_at=now))


def insert_chunk(conn: Connection, key: str, seq: int, content: bytes) -> None:
    """insert_chunk: one piece of a file's bytes, ``seq`` from 0."""
    conn.execute(chunks.insert().values(key=key, seq=seq, content=content))


def replace_chunks(conn: Connection, key: str, pieces: list[bytes]) -> None:
    """replace_chunks: a stored file's pieces replaced by ``pieces`` (its recorded sha256 unchanged: the caller
    restores the bytes that were recorded, checked against it, and nothing else)."""
    conn.execute(chunks.delete().where(chunks.c.key == key))
    for seq, piece in enumerate(pieces):
        insert_chunk(conn, key, seq, piece)
    conn.execute(artifacts.update().where(artifacts.c.key == key)
                 .values(size=sum(len(p) for p in pieces), chunks=len(pieces)))


def artifact(conn: Connection, key: str) -> ArtifactRow | None:
    """artifact: a stored file's sha256, size and chunk count (None: no such key)."""
    row = conn.execute(select(*_COLUMNS).where(artifacts.c.key == key)).one_or_none()
    return ArtifactRow(*row) if row is not None else None


def artifacts_under(conn: Connection, prefix: str) -> list[ArtifactRow]:
    """artifacts_under: every stored file whose key starts with ``prefix`` (a version's folder), by key."""
    return [ArtifactRow(*row) for row in conn.execute(
        select(*_COLUMNS).where(artifacts.c.key.startswith(prefix, autoescape=True)).order_by(artifacts.c.key))]


def chunk_contents(conn: Connection, key: str, n_chunks: int) -> Iterator[bytes]:
    """chunk_contents: a file's pieces in order, one row per round trip (a 90 MB file never sits in memory twice);
    a missing piece ends the stream early, which the caller's size and sha256 checks catch."""
    for seq in range(n_chunks):
        content = conn.execute(select(chunks.c.content).where(chunks.c.key == key, chunks.c.seq == seq)
                               ).scalar_one_or_none()
        if content is None:
            return
        yield bytes(content)


def reading_engine(engine: Engine) -> Engine:
    """The engine the store reads files with. Ours opens every SQLite transaction as a writer (BEGIN IMMEDIATE),
    so a fetch asked for inside an ingest's transaction would wait on that very transaction; a plain pysqlite
    engine reads beside it (WAL). PostgreSQL (and an in-memory SQLite database): the same engine."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    return create_engine(engine.url, connect_args={"check_same_thread": False, "timeout": 30})
