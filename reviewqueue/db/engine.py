"""Engine creation: SQLite gets WAL and a busy timeout; PostgreSQL pings idle connections so a restart heals itself."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlmodel import create_engine

from reviewqueue.db.driver import as_sqlalchemy_error, driver_connection


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, open transactions, and open them as writers (BEGIN IMMEDIATE)
            # so a read-then-write (claim, lease) never deadlocks on lock upgrade.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        _queue_writers(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(database_url, **kwargs)
    _ping_idle_connections(engine)
    return engine


# How long a transaction waits for SQLite's one writer (the busy_timeout above, and this process's queue below).
SQLITE_BUSY_SECONDS = 30.0
_HOLDS_WRITER = "reviewqueue_holds_writer"
_QUERY_ONLY = "reviewqueue_query_only"
# The execution option that makes a connection a reader (AppContext.read): on SQLite its transactions begin
# deferred, outside the writers' queue, and may not write (PRAGMA query_only) — in WAL mode a reader sees the last
# commit and never waits for a writer.
READER = "reviewqueue_reader"


def reader(conn: Connection) -> Connection:
    """Mark ``conn`` (not yet begun) a reader: see READER."""
    return conn.execution_options(**{READER: True})


def _queue_writers(engine: Engine) -> None:
    """Every SQLite transaction but a reader's (READER) is a writer (BEGIN IMMEDIATE: a read-then-write never
    deadlocks on lock upgrade), and SQLite admits one at a time. Threads of this process wait for it in a queue
    here, and the next one starts the moment a transaction ends; left to SQLite's busy handler they poll, sleeping
    up to 100 ms between tries, which at 8 concurrent requests put seconds into p99 and left the database idle
    (BENCHMARKS.md §11). Other processes (the worker, the CLI) still meet SQLite's busy handler."""
    writer = threading.Lock()  # not an RLock: a pool reset may end a transaction on another thread

    def release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_WRITER, False):
            writer.release()

    def lift_query_only(info: dict[str, Any], dbapi_conn: Callable[[], Any]) -> None:
        # the pooled connection writes again for its next user; the driver is touched only for a reader's, and the
        # mark stays until the pragma ran (a failure here is tried again when the connection returns to the pool)
        if info.get(_QUERY_ONLY):
            dbapi_conn().execute("PRAGMA query_only = OFF")
            del info[_QUERY_ONLY]

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get(READER):
            with as_sqlalchemy_error(conn, "BEGIN"):
                driver = driver_connection(conn)
                driver.execute("PRAGMA query_only = ON")  # a write in a reader fails at once, named
                conn.info[_QUERY_ONLY] = True
                driver.execute("BEGIN")
            return
        if not writer.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                f"database is locked: no writer turn in {SQLITE_BUSY_SECONDS:.0f} s"))
        conn.info[_HOLDS_WRITER] = True
        try:
            # on the driver: exec_driver_sql's result and event machinery cost ~30 µs of a ~100 µs transaction
            with as_sqlalchemy_error(conn, "BEGIN IMMEDIATE"):
                driver_connection(conn).execute("BEGIN IMMEDIATE")
        except BaseException:
            release(conn.info)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(conn: Any) -> None:
        # before the COMMIT itself: the next writer's BEGIN IMMEDIATE meets at most the tail of this commit
        release(conn.info)
        lift_query_only(conn.info, lambda: driver_connection(conn))

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_conn: Any, record: Any) -> None:
        # a connection dropped mid-transaction (garbage collected) is rolled back by the pool
        release(record.info)
        lift_query_only(record.info, lambda: dbapi_conn)


# A connection back in the pool for longer than this is pinged before reuse. pool_pre_ping pinged on every
# checkout: a round trip per checkout that cost 6-24% of claim throughput (BENCHMARKS.md §1). Connections
# busy under load skip the ping; if the server restarts under them the failed statement invalidates the
# whole pool and the request answers 503 (api/errors.py), so the next one gets a fresh connection.
IDLE_PING_SECONDS = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _mark_idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
            dbapi_conn.rollback()  # the ping's SELECT opened a transaction; hand the connection over clean
        except Exception as exc:  # the pool drops this connection and checks out (or opens) another
            raise DisconnectionError("idle connection failed its ping") from exc
