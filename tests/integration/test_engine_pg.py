"""The pool pings only idle connections: a connection the server dropped while it sat idle is replaced
before a request sees it, and a busy connection costs no extra round trip (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from reviewqueue.db import engine as engine_module
from reviewqueue.db.engine import make_engine

pytestmark = pytest.mark.postgres_only


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _count_pings(engine, monkeypatch) -> list[int]:
    """The dialect's real ping, counted (it runs on the DBAPI connection, below SQLAlchemy's events)."""
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_conn):
        pings.append(1)
        return real_ping(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    return pings


def test_idle_connection_killed_by_the_server_is_replaced_before_use(database_url, monkeypatch):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    killer = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first_pid = _backend_pid(engine)
        with killer.begin() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid}).scalar_one()
        assert killed, f"could not terminate backend {first_pid}"
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
        pings = _count_pings(engine, monkeypatch)

        second_pid = _backend_pid(engine)  # no OperationalError reaches the caller

        assert second_pid != first_pid, f"still on the terminated backend {first_pid}"
        assert len(pings) == 1, f"pings: {len(pings)}"
    finally:
        engine.dispose()
        killer.dispose()


def test_busy_connection_is_reused_without_a_ping(database_url, monkeypatch):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first_pid = _backend_pid(engine)
        pings = _count_pings(engine, monkeypatch)
        pids = {_backend_pid(engine) for _ in range(5)}  # checked back in a moment ago: not idle, no ping
        assert pids == {first_pid}, f"connections used: {pids}"
        assert pings == [], f"pings: {len(pings)} for 5 checkouts of a busy connection"
    finally:
        engine.dispose()
