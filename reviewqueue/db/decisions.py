"""Decisions: the append-only audit of every verdict, human (one at a time) or model (in bulk at ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import outbox_table as outbox
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.domain.states import ActionStatus, DecisionSource

__all__ = ["automatic_amount_since", "insert_decision", "insert_decisions"]


def insert_decision(conn: Connection, *, prediction_id: int, item_id: int | None, verdict: str, source: str,
                    actor: str, note: str, created_at: datetime) -> int:
    """insert_decision: record one verdict; returns its id."""
    return int(conn.execute(insert(decisions).values(
        prediction_id=prediction_id, item_id=item_id, verdict=verdict, source=source, actor=actor, note=note,
        created_at=created_at,
    ).returning(decisions.c.id)).scalar_one())


def insert_decisions(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """insert_decisions: record a batch of verdicts in one bulk write (ids in row order)."""
    return bulk.insert_with_ids(conn, decisions, rows)


def automatic_amount_since(
    conn: Connection, model_name: str, connector: str, amount_path: Sequence[str], since: datetime
) -> float:
    """automatic_amount_since: the total event amount (at ``amount_path`` in each payload) that the model's
    automatic decisions committed to ``connector`` since ``since``; refused actions moved nothing."""
    amount = outbox.c.payload[tuple(amount_path)].as_float()
    query = (
        select(func.coalesce(func.sum(amount), 0.0))
        .select_from(outbox.join(decisions, decisions.c.id == outbox.c.decision_id)
                     .join(predictions, predictions.c.id == decisions.c.prediction_id))
        .where(outbox.c.connector == connector, outbox.c.created_at >= since,
               outbox.c.status != ActionStatus.REFUSED.value, decisions.c.source == DecisionSource.MODEL.value,
               predictions.c.model_name == model_name)
    )
    return float(conn.execute(query).scalar_one())
