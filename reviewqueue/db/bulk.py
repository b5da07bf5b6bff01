"""Bulk INSERT for hot paths (batch ingest): ids allocated up front, rows written without RETURNING.

``insert(...).returning(id, sort_by_parameter_order=True)`` is slow on both backends (BENCHMARKS §3): psycopg
re-parses every multi-row VALUES page, and SQLite falls back to one statement per row to keep the order.
Knowing the ids before writing lets each backend use its fastest path:

* PostgreSQL: one ``nextval`` round trip for all ids, then ``COPY … FROM STDIN`` on the transaction's own
  connection.
* SQLite: ids continue from ``max(id)`` under the ``BEGIN IMMEDIATE`` write lock (engine.py) — the rowid
  SQLite itself would pick for a table without AUTOINCREMENT — then one driver executemany.

Both write through the driver with values already passed through SQLAlchemy's bind processors, so each value
lands exactly as SQLAlchemy's INSERT would store it, without its per-row parameter bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from reviewqueue.db.driver import as_sqlalchemy_error, driver_connection

Row = dict[str, Any]
Processor = Callable[[Any], Any]


# Below this many rows a plain INSERT is cheaper on PostgreSQL: one round trip, where nextval + COPY take three
# (a single prediction over HTTP writes 2-3 one-row batches).
SMALL_BATCH = 16


def insert_with_ids(conn: Connection, table: Table, rows: Sequence[Row]) -> list[int]:
    """Insert rows that lack their integer primary key; returns the ids given to them, in row order."""
    if not rows:
        return []
    pk = _integer_pk(table)
    if len(rows) == 1:  # one execute, no id allocation first (SQLite ≥ 3.35 has RETURNING too)
        if conn.dialect.name == "sqlite" and not python_defaults(table, tuple(rows[0])):
            return [_sqlite_insert_returning(conn, table, rows[0])]
        return [conn.execute(_insert_returning(table), rows[0]).scalar_one()]
    if conn.dialect.name == "postgresql" and len(rows) < SMALL_BATCH:
        returning = insert(table).returning(table.c[pk], sort_by_parameter_order=True)
        return list(conn.execute(returning, list(rows)).scalars().all())
    ids = _allocate_ids(conn, table, pk, len(rows))
    insert_many(conn, table, [{**row, pk: row_id} for row, row_id in zip(rows, ids, strict=True)])
    return ids


def insert_many(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert rows that carry every column the caller wants set (all with the same keys), in one pass."""
    if not rows:
        return
    columns = list(rows[0])
    _refuse_python_defaults(table, columns)
    if conn.dialect.name == "postgresql" and len(rows) == 1:  # one execute: no executemany bookkeeping
        conn.execute(_insert(table), rows[0])
        return
    if conn.dialect.name == "postgresql" and len(rows) < SMALL_BATCH:
        conn.execute(_insert(table), list(rows))
        return
    write = {"postgresql": _copy, "sqlite": _executemany}.get(conn.dialect.name)
    if write is None:
        raise NotImplementedError(f"bulk insert on {conn.dialect.name}")
    write(conn, table, columns, _bound_values(conn, table, columns, rows))


@lru_cache(maxsize=32)
def _insert(table: Table) -> Any:
    """INSERT into a table, built once per table (the values decide the columns)."""
    return insert(table)


@lru_cache(maxsize=32)
def _insert_returning(table: Table) -> Any:
    """INSERT … RETURNING the integer primary key, built once per table."""
    return insert(table).returning(table.c[_integer_pk(table)])


def _sqlite_insert_returning(conn: Connection, table: Table, row: Row) -> int:
    """One row on the driver, its id RETURNED: SQLAlchemy's execute costs ~40 µs more than the statement (a
    single prediction over HTTP writes two or three of these inside one transaction)."""
    columns = tuple(row)
    statement = _returning_sql(conn.dialect, table, columns)
    [values] = _bound_values(conn, table, list(columns), [row])
    with as_sqlalchemy_error(conn, statement):
        return int(driver_connection(conn).execute(statement, values).fetchone()[0])


@lru_cache(maxsize=256)
def _returning_sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    pk = dialect.identifier_preparer.quote(_integer_pk(table))
    return f"{_insert_sql(dialect, table, columns)} RETURNING {pk}"


@lru_cache(maxsize=64)
def _integer_pk(table: Table) -> str:
    columns = list(table.primary_key.columns)
    if len(columns) != 1 or columns[0].type.python_type is not int:
        raise ValueError(f"{table.name}: id allocation needs a single integer primary key")
    return columns[0].name


def _allocate_ids(conn: Connection, table: Table, pk: str, n: int) -> list[int]:
    if conn.dialect.name == "postgresql":
        return _pg_ids(conn, table, pk, n)
    if conn.dialect.name == "sqlite":
        return _sqlite_ids(conn, table, pk, n)
    raise NotImplementedError(f"bulk id allocation on {conn.dialect.name}")


def _pg_ids(conn: Connection, table: Table, pk: str, n: int) -> list[int]:
    # the sequence looked up once (MATERIALIZED): pg_get_serial_sequence in the select list ran per row, a
    # catalog lookup each time — 70 ms of a 10,000-id allocation that now takes 10
    ids = conn.execute(
        text("WITH s AS MATERIALIZED (SELECT CAST(pg_get_serial_sequence(:table, :pk) AS regclass) AS seq) "
             "SELECT nextval(s.seq) FROM s, generate_series(1, :n)"),
        {"table": table.fullname, "pk": pk, "n": n},
    ).scalars().all()
    # concurrent batches may interleave in the sequence; sorted, ids still follow row order like INSERT's
    return sorted(ids)


def _sqlite_ids(conn: Connection, table: Table, pk: str, n: int) -> list[int]:
    if not conn.in_transaction():
        raise RuntimeError("SQLite id allocation needs the write transaction that will insert the rows")
    last = conn.execute(select(func.coalesce(func.max(table.c[pk]), 0))).scalar_one()
    if table.dialect_options["sqlite"]["autoincrement"]:
        # AUTOINCREMENT promises never to reuse an id, even a deleted row's (explicit ids advance the sequence)
        seq = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table.name})
        last = max(last, seq.scalar() or 0)
    return list(range(last + 1, last + 1 + n))


def _refuse_python_defaults(table: Table, columns: list[str]) -> None:
    missing = python_defaults(table, tuple(columns))
    if missing:
        raise ValueError(f"{table.name}: bulk insert needs explicit values for {', '.join(missing)}")


@lru_cache(maxsize=256)
def python_defaults(table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The omitted columns with a Python-side default: the driver fills an omitted column from the server default
    only, where SQLAlchemy would also run a Python-side one."""
    return tuple(c.name for c in table.columns if c.name not in columns and c.default is not None)


def bound_row(dialect: Dialect, table: Table, row: Row) -> dict[str, Any]:
    """One row's values by column name as SQLAlchemy would bind them (for a statement run on the driver)."""
    bound = dict(row)
    columns = tuple(row)
    for i, process in _processors(dialect, table, columns):
        bound[columns[i]] = process(bound[columns[i]])
    return bound


def _bound_values(conn: Connection, table: Table, columns: list[str], rows: Sequence[Row]) -> Iterator[list[Any]]:
    """Each row's values as SQLAlchemy would bind them, made as the driver consumes them (no second copy)."""
    getter = _values_getter(columns)
    processed = _processors(conn.dialect, table, tuple(columns))
    for row in rows:
        values = list(getter(row))
        for i, process in processed:
            values[i] = process(values[i])
        yield values


@lru_cache(maxsize=256)
def _processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[tuple[int, Processor], ...]:
    """(position, bind processor) of the columns that have one, built once per dialect, table and column list
    (built per call they cost a one-row insert ~0.1 ms)."""
    return tuple((i, process) for i, name in enumerate(columns) if (process := _processor(dialect, table.c[name].type)))


def _processor(dialect: Dialect, type_: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is not None and _holds_datetimes(type_):
        # a batch stamps its rows with one instant: convert it once, not once per row (equal instants in other
        # zones share the cache entry, which is right: the UTC type stores them the same; the cache lives as long
        # as the processor, and holds the last 16 instants)
        return lru_cache(maxsize=16)(process)
    return process


def _holds_datetimes(type_: TypeEngine[Any]) -> bool:
    # a TypeDecorator (db.types.UTCDateTime) reports python_type ``object``: ask the type it decorates
    underlying = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    try:
        return underlying.python_type is datetime
    except NotImplementedError:
        return False


def _values_getter(columns: list[str]) -> Callable[[Row], Sequence[Any]]:
    if len(columns) == 1:
        return lambda row: (row[columns[0]],)
    return itemgetter(*columns)


def _copy(conn: Connection, table: Table, columns: list[str], values: Iterable[list[Any]]) -> None:
    statement = f"COPY {_target(conn.dialect, table, columns)} FROM STDIN"
    driver = driver_connection(conn)
    with as_sqlalchemy_error(conn, statement), driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in values:
            copy.write_row(row)


def _executemany(conn: Connection, table: Table, columns: list[str], values: Iterable[list[Any]]) -> None:
    statement = _insert_sql(conn.dialect, table, tuple(columns))
    with as_sqlalchemy_error(conn, statement):
        driver_connection(conn).executemany(statement, values)


@lru_cache(maxsize=256)
def _insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {_target(dialect, table, list(columns))} VALUES ({', '.join('?' * len(columns))})"


def _target(dialect: Dialect, table: Table, columns: list[str]) -> str:
    quote = dialect.identifier_preparer
    return f"{quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)})"
