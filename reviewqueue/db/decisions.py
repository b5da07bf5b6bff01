"""Decisions: the append-only audit of every verdict, human (one at a time) or model (in bulk at ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, insert, literal_column, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import outbox_table as outbox
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.domain.states import ActionStatus, DecisionSource
from reviewqueue.schemas import DecisionBrief, MyDecisionOut

__all__ = ["DecisionRow", "automatic_amount_since", "automatic_decision_of", "by_actor_query", "decisions_by_actor",
           "get_decision", "insert_decision", "insert_decisions", "mark_reversed", "mark_undone", "standing_decision"]

# a literal, not a parameter: ix_decisions_actor holds only rows WHERE source = 'reviewer', and a planner proves a
# partial index's predicate from the query's own text (a generic plan on PostgreSQL, any plan on SQLite)
_BY_REVIEWER: Any = literal_column(f"'{DecisionSource.REVIEWER.value}'")


def insert_decision(conn: Connection, *, prediction_id: int, item_id: int | None, verdict: str, source: str,
                    actor: str, note: str, created_at: datetime, undo_until: datetime | None = None) -> int:
    """insert_decision: record one verdict (a person's with the end of its undo window); returns its id."""
    return int(conn.execute(insert(decisions).values(
        prediction_id=prediction_id, item_id=item_id, verdict=verdict, source=source, actor=actor, note=note,
        created_at=created_at, undo_until=undo_until,
    ).returning(decisions.c.id)).scalar_one())


class DecisionRow(NamedTuple):
    """A decision as undo and reverse need it: who made it, when its window closes, what became of it."""

    id: int
    prediction_id: int
    item_id: int | None
    verdict: str
    source: str
    actor: str
    created_at: datetime
    undo_until: datetime | None
    undone_at: datetime | None
    reversed_at: datetime | None
    model_name: str
    queue: str | None


def get_decision(conn: Connection, decision_id: int, lock: bool = False) -> DecisionRow | None:
    """get_decision: one decision with its model and its item's queue; ``lock``: FOR UPDATE (PostgreSQL), so an
    undo and a reverse of the same decision run one after the other."""
    query = (
        select(decisions.c.id, decisions.c.prediction_id, decisions.c.item_id, decisions.c.verdict,
               decisions.c.source, decisions.c.actor, decisions.c.created_at, decisions.c.undo_until,
               decisions.c.undone_at, decisions.c.reversed_at, predictions.c.model_name, items.c.queue)
        .join(predictions, predictions.c.id == decisions.c.prediction_id)
        .outerjoin(items, items.c.id == decisions.c.item_id)
        .where(decisions.c.id == decision_id)
    )
    if lock:
        query = query.with_for_update(of=decisions)
    row = conn.execute(query).first()
    return DecisionRow._make(row) if row else None


def automatic_decision_of(conn: Connection, prediction_id: int) -> tuple[int, str] | None:
    """automatic_decision_of: the model's own decision on a prediction (id, verdict), if it made one."""
    row = conn.execute(
        select(decisions.c.id, decisions.c.verdict)
        .where(decisions.c.prediction_id == prediction_id, decisions.c.source == DecisionSource.MODEL.value)
        .order_by(decisions.c.id).limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row else None


def mark_undone(conn: Connection, decision_id: int, by: str, at: datetime) -> bool:
    """mark_undone: record who undid a decision and when, once (False if it was already undone or reversed)."""
    return bool(conn.execute(
        update(decisions).where(decisions.c.id == decision_id, decisions.c.undone_at.is_(None),
                                decisions.c.reversed_at.is_(None))
        .values(undone_at=at, undone_by=by)
    ).rowcount == 1)


def mark_reversed(conn: Connection, decision_id: int, by: str, at: datetime, reason: str) -> bool:
    """mark_reversed: record who reversed a decision, when and why, once (False if already undone or reversed)."""
    return bool(conn.execute(
        update(decisions).where(decisions.c.id == decision_id, decisions.c.undone_at.is_(None),
                                decisions.c.reversed_at.is_(None))
        .values(reversed_at=at, reversed_by=by, reverse_reason=reason)
    ).rowcount == 1)


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


def standing_decision(conn: Connection, prediction_id: int) -> DecisionBrief | None:
    """standing_decision: a prediction's latest decision that was not undone (what a deep link shows)."""
    row = conn.execute(
        select(decisions.c.id, decisions.c.verdict, decisions.c.source, decisions.c.actor, decisions.c.note,
               decisions.c.created_at)
        .where(decisions.c.prediction_id == prediction_id, decisions.c.undone_at.is_(None))
        .order_by(decisions.c.id.desc()).limit(1)
    ).first()
    return DecisionBrief.model_validate(row) if row else None


def by_actor_query(
    actor: str, external_id_prefix: str | None, queues: Sequence[str] | None, before_id: int | None, limit: int,
) -> Select[Any]:
    """The query behind decisions_by_actor (its plan is tested against the partial index)."""
    query = (
        select(decisions.c.id, decisions.c.created_at, decisions.c.verdict, decisions.c.note, decisions.c.item_id,
               items.c.queue, predictions.c.model_name.label("model"), predictions.c.external_id,
               predictions.c.score, decisions.c.undo_until, decisions.c.undone_at, decisions.c.reversed_at)
        .join(predictions, predictions.c.id == decisions.c.prediction_id)
        .outerjoin(items, items.c.id == decisions.c.item_id)
        .where(decisions.c.actor == actor, decisions.c.source == _BY_REVIEWER)
        .order_by(decisions.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(decisions.c.id < before_id)
    if external_id_prefix:
        query = query.where(predictions.c.external_id.startswith(external_id_prefix, autoescape=True))
    if queues is not None:
        query = query.where(items.c.queue.in_(list(queues)))
    return query


def decisions_by_actor(
    conn: Connection, actor: str, external_id_prefix: str | None, queues: Sequence[str] | None,
    before_id: int | None, limit: int,
) -> list[MyDecisionOut]:
    """decisions_by_actor: one reviewer's verdicts newest first (ix_decisions_actor), keyset-paged by id (ids
    below ``before_id``), optionally those whose external id starts with a prefix, on ``queues`` (None: all)."""
    query = by_actor_query(actor, external_id_prefix, queues, before_id, limit)
    return [MyDecisionOut.model_validate(r) for r in conn.execute(query)]
