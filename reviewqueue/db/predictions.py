"""Predictions: the idempotency lookup, the bulk write of a scored batch, the correlation lookup for outcomes,
and a subject's history (the triage page's "same customer" list)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Insert

from reviewqueue.db import bulk
from reviewqueue.db.driver import CompiledOnce
from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.tables import versions_table as versions
from reviewqueue.domain.states import VersionStatus
from reviewqueue.schemas import HistoryEntry

__all__ = ["NotStored", "StoredPrediction", "auto_decided_uncertainty_since", "count_shadow_scored",
           "insert_predictions", "prediction_by_correlation_key", "stored_predictions", "subject_history"]

IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


class NotStored(Exception):
    """A prediction of a small batch was not written: its external id is already stored (a duplicate, perhaps
    committed by a concurrent request a moment ago), or the version it records is no longer the champion (a
    promotion committed since the scorer was chosen). The caller rolls back and answers by the exact path."""


class StoredPrediction(NamedTuple):
    """A prediction already stored for an external id, as ingest answers a re-sent event."""

    id: int
    external_id: str
    score: float
    route: str
    audited: bool
    item_id: int | None
    model_version: int


_EXISTING = (
    select(predictions.c.id, predictions.c.external_id, predictions.c.score, predictions.c.route,
           predictions.c.audited, items.c.id.label("item_id"), versions.c.version)
    .join(versions, versions.c.id == predictions.c.version_id)
    .outerjoin(items, items.c.prediction_id == predictions.c.id)
    .where(predictions.c.model_name == bindparam("model_name"))
)
# PostgreSQL: the whole batch as one array parameter, each external id looked up on its own through the unique
# (model_name, external_id) index — the LATERAL … LIMIT 1 cannot be flattened into a join, so no statistics (or
# their absence) can turn it into a scan. `model_name = ? AND external_id = ANY(?)` could: on a never-analysed
# table the planner took the default 0.5% selectivity for the model name, read ix_predictions_created and
# filtered every stored prediction of the model (357 ms per 1,000-event batch at 951k rows, growing with the table;
# bench/ingest_growth.py). An IN list of 900 parameters had the same problem once psycopg prepared it.
_EXISTING_PG = CompiledOnce(text("""
    SELECT p.id, p.external_id, p.score, p.route, p.audited, i.id AS item_id, v.version
    FROM unnest(CAST(:external_ids AS VARCHAR[])) AS wanted(external_id)
    CROSS JOIN LATERAL (
        SELECT id, external_id, score, route, audited, version_id FROM predictions
        WHERE model_name = :model_name AND external_id = wanted.external_id
        LIMIT 1) AS p
    JOIN model_versions v ON v.id = p.version_id
    LEFT JOIN review_items i ON i.prediction_id = p.id"""))


def stored_predictions(conn: Connection, model_name: str, external_ids: list[str]) -> dict[str, StoredPrediction]:
    """stored_predictions: the predictions this model already has for these external ids (idempotent ingest)."""
    if conn.dialect.name == "postgresql":
        found_pg = _EXISTING_PG.all(conn, {"model_name": model_name, "external_ids": external_ids})
        return {r[1]: StoredPrediction(*r) for r in found_pg}
    found: dict[str, StoredPrediction] = {}
    for start in range(0, len(external_ids), IN_CHUNK):  # SQLite: chunks under its bound-parameter limit
        chunk = external_ids[start:start + IN_CHUNK]
        rows = conn.execute(_EXISTING.where(predictions.c.external_id.in_(chunk)), {"model_name": model_name}).all()
        found.update({r.external_id: StoredPrediction(*r) for r in rows})
    return found


def insert_predictions(conn: Connection, rows: Sequence[dict[str, Any]], shadow_id: int | None = None) -> list[int]:
    """insert_predictions: write a scored batch; ids in row order. A batch under ``bulk.SMALL_BATCH`` rows (a
    single prediction over HTTP) writes each row with one guarded ``INSERT … ON CONFLICT DO NOTHING RETURNING``:
    no idempotency lookup first, and the versions the batch was scored with — champion ``version_id``, shadow
    ``shadow_id`` — checked in the same statement; NotStored when a row was not written. Larger batches go
    through one bulk write (COPY on PostgreSQL) after the caller's lookup."""
    if len(rows) >= bulk.SMALL_BATCH:
        return bulk.insert_with_ids(conn, predictions, rows)
    ids = []
    for row in rows:
        if conn.dialect.name == "sqlite" and not bulk.python_defaults(predictions, tuple(row)):
            found = _insert_if_new_on_driver(conn, row, shadow_id)
        else:
            statement = _insert_if_new(conn.dialect.name, tuple(row))
            found = conn.execute(statement, {**row, "serving_shadow": shadow_id or 0}).scalar()
        if found is None:
            raise NotStored(row["external_id"])
        ids.append(int(found))
    return ids


@lru_cache(maxsize=32)
def _insert_if_new(dialect: str, columns: tuple[str, ...]) -> Insert:
    """INSERT one prediction unless its (model, external id) is stored, or the model's champion is no longer
    ``version_id``, or its shadow no longer ``serving_shadow`` (0: none); RETURNING its id (no row otherwise).
    Built once per dialect and column set (the service decides the columns)."""
    served = exists().where(versions.c.id == bindparam("version_id"),
                            versions.c.status == VersionStatus.CHAMPION.value)
    shadow = (select(func.coalesce(func.max(versions.c.id), 0))
              .where(versions.c.model_name == bindparam("model_name"),
                     versions.c.status == VersionStatus.SHADOW.value)
              .scalar_subquery())
    values = select(*[bindparam(c, type_=predictions.c[c].type) for c in columns]).where(
        served, shadow == bindparam("serving_shadow"))
    insert = postgresql.insert(predictions) if dialect == "postgresql" else sqlite.insert(predictions)
    return (insert.from_select(list(columns), values)
            .on_conflict_do_nothing(index_elements=["model_name", "external_id"])
            .returning(predictions.c.id))


def _insert_if_new_on_driver(conn: Connection, row: dict[str, Any], shadow_id: int | None) -> int | None:
    """_insert_if_new run on SQLite's driver: SQLAlchemy's execute costs ~40 µs more than the statement itself,
    a tenth of a single prediction's write (BENCHMARKS.md §11)."""
    params = {**bulk.bound_row(conn.dialect, predictions, row), "serving_shadow": shadow_id or 0}
    found = _insert_if_new_once(tuple(row)).first(conn, params)
    return None if found is None else int(found[0])


@lru_cache(maxsize=32)
def _insert_if_new_once(columns: tuple[str, ...]) -> CompiledOnce:
    return CompiledOnce(_insert_if_new("sqlite", columns))


def prediction_by_correlation_key(conn: Connection, model_name: str, key: str) -> int | None:
    """prediction_by_correlation_key: the prediction an outcome refers to (e.g. the charge id of a dispute)."""
    found = conn.execute(select(predictions.c.id).where(predictions.c.model_name == model_name,
                                                        predictions.c.correlation_key == key)).scalar()
    return int(found) if found is not None else None


def recent_features(conn: Connection, model_name: str, limit: int) -> list[dict[str, Any]]:
    """recent_features: the features of a model's newest predictions, newest first (bench-model's sample)."""
    rows = conn.execute(select(predictions.c.features).where(predictions.c.model_name == model_name)
                        .order_by(predictions.c.id.desc()).limit(limit))
    return [dict(r.features) for r in rows]


def auto_decided_uncertainty_since(conn: Connection, model_name: str, since: datetime) -> tuple[float, datetime | None]:
    """auto_decided_uncertainty_since: Σ(1 − |2·score − 1|) over a model's auto-decided predictions since a moment,
    and the oldest of them (ix_predictions_created)."""
    row = conn.execute(
        select(func.sum(1.0 - func.abs(2.0 * predictions.c.score - 1.0)), func.min(predictions.c.created_at))
        .where(predictions.c.model_name == model_name, predictions.c.created_at >= since,
               predictions.c.route != "review")
    ).one()
    return float(row[0] or 0.0), row[1]


def count_shadow_scored(conn: Connection, model_name: str, shadow_version_id: int) -> int:
    """count_shadow_scored: how many of a model's predictions a shadow version scored beside the champion."""
    return int(conn.execute(
        select(func.count()).select_from(predictions)
        .where(predictions.c.model_name == model_name, predictions.c.shadow_version_id == shadow_version_id)
    ).scalar_one())


def subject_history(
    conn: Connection, model_name: str, subject: str, exclude_id: int, queues: Sequence[str] | None,
    include_unqueued: bool, limit: int,
) -> list[HistoryEntry]:
    """subject_history: a subject's other predictions of one model, newest first (ix_predictions_subject), each
    with its item and standing decision (the latest not undone); ``queues`` limits them to items of those queues
    (None: every queue), ``include_unqueued`` adds the model's own automatic decisions, which have no item."""
    standing = (
        select(func.max(decisions.c.id))
        .where(decisions.c.prediction_id == predictions.c.id, decisions.c.undone_at.is_(None))
        .correlate(predictions)
        .scalar_subquery()
    )
    query = (
        select(predictions.c.id.label("prediction_id"), predictions.c.external_id, predictions.c.created_at,
               predictions.c.score, predictions.c.route, predictions.c.features, predictions.c.context,
               items.c.id.label("item_id"), items.c.status.label("item_status"), decisions.c.verdict,
               decisions.c.actor.label("decided_by"), decisions.c.created_at.label("decided_at"),
               decisions.c.source.label("decision_source"))
        .outerjoin(items, items.c.prediction_id == predictions.c.id)
        .outerjoin(decisions, decisions.c.id == standing)
        .where(predictions.c.model_name == model_name, predictions.c.subject == subject,
               predictions.c.id != exclude_id)
        .order_by(predictions.c.id.desc())
        .limit(limit)
    )
    if queues is not None:
        visible = items.c.queue.in_(list(queues))
        query = query.where(or_(visible, items.c.id.is_(None)) if include_unqueued else visible)
    return [HistoryEntry.model_validate(r) for r in conn.execute(query)]
