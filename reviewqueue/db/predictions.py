"""Predictions: the idempotency lookup, the bulk write of a scored batch, the correlation lookup for outcomes,
and a subject's history (the triage page's "same customer" list)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.tables import versions_table as versions
from reviewqueue.schemas import HistoryEntry

__all__ = ["StoredPrediction", "auto_decided_uncertainty_since", "count_shadow_scored", "insert_predictions",
           "prediction_by_correlation_key", "stored_predictions", "subject_history"]

IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


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
# PostgreSQL: the whole batch as one array parameter. An IN list of 900 parameters, once psycopg prepared it,
# could get a generic plan that compared every stored row with the list (seconds per chunk without statistics).
_EXISTING_PG = _EXISTING.where(predictions.c.external_id == any_(bindparam("external_ids", type_=ARRAY(String))))


def stored_predictions(conn: Connection, model_name: str, external_ids: list[str]) -> dict[str, StoredPrediction]:
    """stored_predictions: the predictions this model already has for these external ids (idempotent ingest)."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_EXISTING_PG, {"model_name": model_name, "external_ids": external_ids}).all()
        return {r.external_id: StoredPrediction(*r) for r in rows}
    found: dict[str, StoredPrediction] = {}
    for start in range(0, len(external_ids), IN_CHUNK):  # SQLite: chunks under its bound-parameter limit
        chunk = external_ids[start:start + IN_CHUNK]
        rows = conn.execute(_EXISTING.where(predictions.c.external_id.in_(chunk)), {"model_name": model_name}).all()
        found.update({r.external_id: StoredPrediction(*r) for r in rows})
    return found


def insert_predictions(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """insert_predictions: write a scored batch in one bulk write (COPY on PostgreSQL); ids in row order."""
    return bulk.insert_with_ids(conn, predictions, rows)


def prediction_by_correlation_key(conn: Connection, model_name: str, key: str) -> int | None:
    """prediction_by_correlation_key: the prediction an outcome refers to (e.g. the charge id of a dispute)."""
    found = conn.execute(select(predictions.c.id).where(predictions.c.model_name == model_name,
                                                        predictions.c.correlation_key == key)).scalar()
    return int(found) if found is not None else None


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
