"""db/bulk.py: ids allocated up front, rows stored exactly as SQLAlchemy's INSERT stores them, errors translated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import String, cast, func, insert, select
from sqlalchemy.exc import IntegrityError

from reviewqueue.db import bulk
from reviewqueue.db.tables import ModelVersion, OutboxAction, Prediction

predictions = Prediction.__table__
outbox = OutboxAction.__table__
# a time zone that is not UTC, with microseconds: what the UTC column type must normalise
NOT_UTC = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))


@pytest.fixture(autouse=True, params=["bulk path", "small-batch path"])
def batch_path(request, monkeypatch) -> str:
    """Every test runs both ways PostgreSQL can write: nextval + COPY, and the plain INSERT for small batches."""
    monkeypatch.setattr(bulk, "SMALL_BATCH", 0 if request.param == "bulk path" else 10**6)
    return str(request.param)


@pytest.fixture
def row_for(ctx):
    """prediction_row bound to the installed version (read up front: SQLite allows one writer at a time)."""
    with ctx.engine.connect() as conn:
        version_id = int(conn.execute(select(ModelVersion.id)).scalar_one())
    return lambda external_id, **overrides: prediction_row(version_id, external_id, **overrides)


def prediction_row(version_id: int, external_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "model_name": "fraud", "external_id": external_id, "version_id": version_id, "score": 1 / 3,
        "route": "review", "audited": False,
        "features": {"amount": 12.5, "tiny": 1e-300, "big": 2**53 + 1, "flag": True, "none": None,
                     "text": "naïve ✓ \"quoted\" \\ tab\t", "nested": [1, {"a": [None, 0.1]}]},
        "context": {"charge_id": "ch_1", "note": "line\nbreak"},
        "correlation_key": None, "policy_version": "p1", "selection_probability": 0.25, "created_at": NOT_UTC,
    }
    return row | overrides


def outbox_row(key: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "id": key, "decision_id": None, "connector": "webhook", "params": {"url": "https://example.test/x"},
        "payload": {"score": 0.25, "items": [1, 2, 3], "who": "model:fraud"}, "status": "pending", "attempts": 0,
        "outcome_unknown": False, "next_attempt_at": NOT_UTC, "created_at": NOT_UTC,
    }
    return row | overrides


def stored_text(ctx, table, key_column: str, keys: list[Any], columns: list[str]) -> list[tuple]:
    """Columns as the database holds them (cast to text), so a different serialisation would show."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(table.c[key_column], *[cast(table.c[c], String) for c in columns])
            .where(table.c[key_column].in_(keys))
        ).all()
    by_key = {r[0]: tuple(r[1:]) for r in rows}
    return [by_key[k] for k in keys]


def test_ids_follow_row_order_and_never_collide_with_ordinary_inserts(ctx, row_for):
    with ctx.engine.begin() as conn:
        first = conn.execute(insert(predictions).returning(predictions.c.id), row_for("a")).scalar_one()
        ids = bulk.insert_with_ids(conn, predictions, [row_for(f"b{i}") for i in range(5)])
    with ctx.engine.begin() as conn:
        last = conn.execute(insert(predictions).returning(predictions.c.id), row_for("c")).scalar_one()
        stored = dict(conn.execute(select(predictions.c.external_id, predictions.c.id)).all())
    assert ids == sorted(ids) and len(set(ids)) == 5 and first < ids[0] and ids[-1] < last
    assert [stored[f"b{i}"] for i in range(5)] == ids


def test_values_land_exactly_as_an_insert_stores_them(ctx, row_for):
    with ctx.engine.begin() as conn:
        conn.execute(insert(predictions), [row_for("via-insert")])
        bulk.insert_with_ids(conn, predictions, [row_for("via-bulk")])
    columns = ["features", "context", "created_at", "score", "audited", "correlation_key"]
    as_insert, as_bulk = stored_text(ctx, predictions, "external_id", ["via-insert", "via-bulk"], columns)
    assert as_bulk == as_insert
    with ctx.engine.connect() as conn:
        back = conn.execute(select(predictions).where(predictions.c.external_id == "via-bulk")).one()
    expected = row_for("via-bulk")
    assert back.features == expected["features"] and back.context == expected["context"]
    assert back.created_at == NOT_UTC and back.created_at.tzinfo == UTC and back.score == 1 / 3
    assert back.correlation_key is None


def test_json_null_and_sql_null_stay_distinct_like_an_insert(ctx):
    # an explicit None in a JSON column is JSON null to SQLAlchemy; an omitted column is SQL NULL
    with ctx.engine.begin() as conn:
        conn.execute(insert(outbox), [outbox_row("insert-none", outcome=None)])
        conn.execute(insert(outbox), [outbox_row("insert-omitted")])
        bulk.insert_many(conn, outbox, [outbox_row("bulk-none", outcome=None)])
        bulk.insert_many(conn, outbox, [outbox_row("bulk-omitted")])
        null = dict(conn.execute(select(outbox.c.id, outbox.c.outcome.is_(None))).all())
    assert null == {"insert-none": False, "bulk-none": False, "insert-omitted": True, "bulk-omitted": True}
    columns = ["params", "payload", "next_attempt_at", "created_at", "outcome_unknown"]
    assert stored_text(ctx, outbox, "id", ["bulk-none"], columns) == \
        stored_text(ctx, outbox, "id", ["insert-none"], columns)


def test_a_unique_violation_is_an_integrity_error_and_leaves_nothing(ctx, row_for):
    with ctx.engine.begin() as conn:
        bulk.insert_with_ids(conn, predictions, [row_for("taken")])
    with pytest.raises(IntegrityError) as caught, ctx.engine.begin() as conn:
        bulk.insert_with_ids(conn, predictions, [row_for("new"), row_for("taken")])
    assert isinstance(caught.value.orig, ctx.engine.dialect.loaded_dbapi.IntegrityError)
    with ctx.engine.begin() as conn:  # the connection went back to the pool usable
        assert conn.execute(select(predictions.c.external_id)).scalars().all() == ["taken"]
        assert bulk.insert_with_ids(conn, predictions, [row_for("next")])


def test_one_row_gets_the_python_side_defaults_it_leaves_out(ctx, row_for):
    # a one-row insert may go straight to the driver (SQLite); a left-out column's Python default must still land
    sparse = {k: v for k, v in row_for("sparse").items() if k not in ("audited", "policy_version")}
    with ctx.engine.begin() as conn:
        [row_id] = bulk.insert_with_ids(conn, predictions, [sparse])
        back = conn.execute(select(predictions).where(predictions.c.id == row_id)).one()
    column = predictions.c
    assert back.audited is column.audited.default.arg and back.policy_version == column.policy_version.default.arg


def test_one_row_unique_violation_is_an_integrity_error_and_the_transaction_rolls_back(ctx, row_for):
    with ctx.engine.begin() as conn:
        bulk.insert_with_ids(conn, predictions, [row_for("once")])
    with pytest.raises(IntegrityError) as caught, ctx.engine.begin() as conn:
        bulk.insert_with_ids(conn, predictions, [row_for("in-the-same-transaction")])
        bulk.insert_with_ids(conn, predictions, [row_for("once")])
    assert isinstance(caught.value.orig, ctx.engine.dialect.loaded_dbapi.IntegrityError)
    with ctx.engine.begin() as conn:
        assert conn.execute(select(predictions.c.external_id)).scalars().all() == ["once"]


@pytest.mark.postgres_only
def test_copy_refuses_to_skip_a_python_side_default(ctx):
    row = outbox_row("no-status")
    del row["status"]  # an INSERT would fill 'pending'; COPY would store NULL
    with pytest.raises(ValueError, match="explicit values for status"), ctx.engine.begin() as conn:
        bulk.insert_many(conn, outbox, [row])


def test_nothing_to_insert_touches_nothing(ctx):
    with ctx.engine.begin() as conn:
        assert bulk.insert_with_ids(conn, predictions, []) == []
        bulk.insert_many(conn, outbox, [])
        assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 0
