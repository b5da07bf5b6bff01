"""Running SQL on the DBAPI connection inside SQLAlchemy's transaction, for the few paths where SQLAlchemy's
per-execution machinery is the cost (BENCHMARKS.md §1: the claim statement, §3: bulk COPY).

The statement still commits or rolls back with the SQLAlchemy transaction it runs in; driver errors are wrapped
as SQLAlchemy's own (``IntegrityError``, ``OperationalError`` with ``connection_invalidated``), so callers and
the API's error mapping (lost database → 503) cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


def driver_connection(conn: Connection) -> Any:
    """The DBAPI connection inside the transaction SQLAlchemy has open."""
    return conn.connection.driver_connection


@contextmanager
def as_sqlalchemy_error(conn: Connection, statement: str) -> Iterator[None]:
    """Wrap driver errors as SQLAlchemy would wrap them for an ``execute`` of ``statement``."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, dbapi_error, connection_invalidated=lost,
                                  dialect=conn.dialect) from exc


class CompiledOnce:
    """A statement compiled once per dialect, run straight on the driver cursor.

    Only for statements whose bound values the driver adapts as SQLAlchemy would (ints, strings, aware
    datetimes for timestamptz, lists for arrays), or that the caller has bound already (``bulk.bound_row``): no
    type processors run here. Values the statement itself carries (``.values(status="claimed")``) are taken from
    the compiled defaults. Parameters go by name (SQLite's driver is given the named style for it).
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def sql(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        """The SQL text the driver receives and the statement's own parameter values."""
        found = self._compiled.get(dialect.name)
        if found is None:
            # sqlite3 takes a dict only with :name parameters (SQLAlchemy's SQLite default is qmark)
            named = cast(Any, type(dialect))(paramstyle="named") if dialect.name == "sqlite" else dialect
            compiled = self.statement.compile(dialect=named)
            found = (compiled.string, {k: v for k, v in compiled.params.items() if v is not None})
            self._compiled[dialect.name] = found
        return found

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        sql, defaults = self.sql(conn.dialect)
        with as_sqlalchemy_error(conn, sql), closing(driver_connection(conn).cursor()) as cursor:
            cursor.execute(sql, {**defaults, **params})
            row: tuple[Any, ...] | None = cursor.fetchone()
            return row

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        sql, defaults = self.sql(conn.dialect)
        with as_sqlalchemy_error(conn, sql), closing(driver_connection(conn).cursor()) as cursor:
            cursor.execute(sql, {**defaults, **params})
            return list(cursor.fetchall())
