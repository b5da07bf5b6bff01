"""SQLite's writers queue inside the process (db/engine.py): every transaction gets its turn as soon as the one
before it ends, a connection dropped mid-transaction gives its turn back, and a turn that never comes is the
same 'database is locked' error SQLite's own busy timeout gives."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from reviewqueue.db import engine as engine_module
from reviewqueue.db.engine import make_engine, reader

pytestmark = pytest.mark.embedded_only


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def test_concurrent_read_modify_writes_all_land(sqlite_engine):
    """16 threads × 25 read-then-write transactions: none lost, none refused."""
    def bump(_i: int) -> None:
        for _ in range(25):
            with sqlite_engine.begin() as conn:
                n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(bump, range(16)))
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 16 * 25


def test_a_failed_transaction_and_a_dropped_connection_give_the_turn_back(sqlite_engine):
    with pytest.raises(RuntimeError), sqlite_engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = 99"))
        raise RuntimeError("the request failed")
    dropped = sqlite_engine.connect()
    dropped.execute(text("UPDATE counter SET n = 7"))  # a transaction begun and never ended
    del dropped
    gc.collect()  # the pool rolls it back and returns it: the turn is released with it
    done = threading.Event()

    def write() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(text("UPDATE counter SET n = n + 1"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(10), "the next writer never got its turn"
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 1  # neither 99 nor 7 was kept


def test_no_turn_within_the_busy_timeout_is_database_is_locked(sqlite_engine, monkeypatch):
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_SECONDS", 0.2)
    holder = sqlite_engine.connect()
    holder.execute(text("UPDATE counter SET n = 1"))  # holds the writer's turn
    try:
        result: list[BaseException] = []

        def write() -> None:
            try:
                with sqlite_engine.begin() as conn:
                    conn.execute(text("UPDATE counter SET n = 2"))
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                result.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(10)
        assert len(result) == 1 and isinstance(result[0], OperationalError)
        assert "database is locked" in str(result[0])
    finally:
        holder.rollback()
        holder.close()
    with sqlite_engine.begin() as conn:  # and the turn is free again
        conn.execute(text("UPDATE counter SET n = 3"))


@pytest.fixture
def one_connection_engine(tmp_path):
    """A pool of exactly one connection: whatever a transaction leaves on it, the next one meets."""
    engine = make_engine(f"sqlite:///{tmp_path / 'readers.db'}", pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def test_a_reader_reads_the_last_commit_while_a_writer_holds_the_turn(sqlite_engine, monkeypatch):
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_SECONDS", 0.2)  # a reader in the queue would fail, not wait
    writer = sqlite_engine.connect()
    writer.execute(text("UPDATE counter SET n = 5"))  # holds the writer's turn, uncommitted
    try:
        with reader(sqlite_engine.connect()) as conn:  # the same thread: queued, it could never get a turn
            assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 0
        writer.commit()
        with reader(sqlite_engine.connect()) as conn:
            assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 5
    finally:
        writer.close()


def test_a_write_through_a_reader_fails_and_the_connection_writes_again_afterwards(one_connection_engine):
    with pytest.raises(OperationalError, match="readonly"), reader(one_connection_engine.connect()) as conn:
        conn.execute(text("UPDATE counter SET n = 1"))
    with one_connection_engine.begin() as conn:  # the one pooled connection, query_only lifted
        conn.execute(text("UPDATE counter SET n = 2"))
    with reader(one_connection_engine.connect()) as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2
    dropped = reader(one_connection_engine.connect())
    dropped.execute(text("SELECT n FROM counter"))  # a reader begun and never ended
    del dropped
    gc.collect()
    with one_connection_engine.begin() as conn:  # returned by the pool, writable again
        conn.execute(text("UPDATE counter SET n = 3"))


def test_the_contexts_read_connection_is_a_reader(ctx):
    with pytest.raises(OperationalError, match="readonly"), ctx.read() as conn:
        conn.execute(text("DELETE FROM model_versions"))
    with ctx.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar_one() == 1
