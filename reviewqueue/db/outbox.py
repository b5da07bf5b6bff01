"""Outbox actions: enqueue, lease a batch, heartbeat, reclaim, record outcomes, count, list, replay — each named.

The hot statements are built once at import with bind parameters; statuses in WHERE clauses are literals so
PostgreSQL matches the partial indexes (ix_outbox_due, ix_outbox_inflight) without re-planning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, func, literal, literal_column, or_, select, text, tuple_, update
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import outbox_table as outbox
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.types import UTCDateTime
from reviewqueue.domain.states import ActionStatus
from reviewqueue.schemas import ActionOut

__all__ = [
    "ActionFilter", "ActionScope", "LeasedAction", "count_by_status", "count_matching", "estimated_rows",
    "extend_action_leases", "finish_action", "get_action", "held_actions", "insert_actions", "lease_outbox_batch",
    "list_actions", "reclaim_stale_actions", "record_outcomes", "replay_dead_action", "replay_dead_actions",
    "status_of",
    "DecisionAction", "cancel_pending_actions", "compensated_actions", "lock_decision_actions",
]

_PENDING_ACTION: Any = literal_column("'pending'")
_IN_FLIGHT_ACTION: Any = literal_column("'in_flight'")


def insert_actions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """insert_actions: write outbox rows (ids chosen by the caller: they are the providers' idempotency keys)."""
    bulk.insert_many(conn, outbox, rows)


@dataclass(frozen=True)
class LeasedAction:
    """An action a worker now holds in flight: what its connector needs to deliver it."""

    id: str
    connector: str
    params: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    outcome_unknown: bool
    created_at: datetime  # when its decision was committed (delivery latency is measured from it)


_DUE = (
    select(outbox.c.id)
    .where(outbox.c.status == _PENDING_ACTION, outbox.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()))
    .order_by(outbox.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_LEASE_BATCH = (
    update(outbox)
    .where(outbox.c.id == _DUE.c.id, outbox.c.status == _PENDING_ACTION)
    .values(
        status=ActionStatus.IN_FLIGHT.value,
        leased_by=bindparam("worker_id"),
        lease_expires_at=bindparam("expires_at", type_=UTCDateTime()),
        attempts=outbox.c.attempts + 1,
    )
    .returning(outbox.c.id, outbox.c.connector, outbox.c.params, outbox.c.payload, outbox.c.attempts,
               outbox.c.outcome_unknown, outbox.c.created_at)
)


def lease_outbox_batch(
    conn: Connection, worker_id: str, now: datetime, limit: int, visibility_seconds: int
) -> list[LeasedAction]:
    """lease_outbox_batch: take up to ``limit`` due pending actions for one worker (SKIP LOCKED on PostgreSQL).

    The due rows are picked in a CTE joined by equality: PostgreSQL evaluates ``id IN (SELECT … LIMIT n)``
    as a semi-join that can re-run the limited subquery per row and lease far more than ``limit``.
    """
    params = {"now": now, "limit": limit, "worker_id": worker_id,
              "expires_at": now + timedelta(seconds=visibility_seconds)}
    return [LeasedAction(*r) for r in conn.execute(_LEASE_BATCH, params)]


def extend_action_leases(
    conn: Connection, worker_id: str, action_ids: list[str], now: datetime, visibility_seconds: int
) -> int:
    """extend_action_leases: a live worker keeps the actions it is still delivering (heartbeat)."""
    if not action_ids:
        return 0
    statement = (
        update(outbox)
        .where(outbox.c.id.in_(action_ids), outbox.c.status == ActionStatus.IN_FLIGHT,
               outbox.c.leased_by == worker_id)
        .values(lease_expires_at=now + timedelta(seconds=visibility_seconds))
    )
    return int(conn.execute(statement).rowcount)


_RECLAIM = (
    update(outbox)
    .where(outbox.c.status == _IN_FLIGHT_ACTION, outbox.c.lease_expires_at < bindparam("now", type_=UTCDateTime()))
    .values(status=ActionStatus.PENDING.value, outcome_unknown=True, leased_by=None, lease_expires_at=None,
            next_attempt_at=bindparam("retry_at", type_=UTCDateTime()))
)


def reclaim_stale_actions(conn: Connection, now: datetime) -> int:
    """reclaim_stale_actions: in-flight actions whose worker vanished go back to pending, marked outcome-unknown."""
    return int(conn.execute(_RECLAIM, {"now": now, "retry_at": now}).rowcount)


# Recording a group of attempts' outcomes (BENCHMARKS.md §5): a transaction per action spent most of the
# delivery threads' time in COMMIT and statement building. Built once at import, one statement per outcome
# shape, so a group is one SELECT plus one executemany per shape in one transaction. The status in WHERE is a
# literal, as in _LEASE_BATCH; bind names differ from column names, which SQLAlchemy reserves in SET clauses.
_HOLDER_OF_ACTION = (
    outbox.c.id == bindparam("action_id"),
    outbox.c.status == _IN_FLIGHT_ACTION,
    outbox.c.leased_by == bindparam("worker_id"),
)
# FOR UPDATE in id order: the rows stay ours until COMMIT, and two transactions lock them in the same order
_HELD_ACTIONS = (
    select(outbox.c.id)
    .where(outbox.c.id.in_(bindparam("action_ids", expanding=True)), outbox.c.status == _IN_FLIGHT_ACTION,
           outbox.c.leased_by == bindparam("worker_id"))
    .order_by(outbox.c.id)
    .with_for_update()
)
_RECORD_DONE = update(outbox).where(*_HOLDER_OF_ACTION).values(
    status=ActionStatus.DONE.value, outcome=bindparam("new_outcome", type_=outbox.c.outcome.type),
    done_at=bindparam("new_done_at", type_=UTCDateTime()), leased_by=None, lease_expires_at=None, last_error=None,
)
_RECORD_RETRY = update(outbox).where(*_HOLDER_OF_ACTION).values(
    status=ActionStatus.PENDING.value, last_error=bindparam("new_last_error"),
    next_attempt_at=bindparam("new_next_attempt_at", type_=UTCDateTime()), leased_by=None, lease_expires_at=None,
    # a failed call may still have reached the provider: the next attempt looks before acting
    outcome_unknown=True,
)
_RECORD_DEAD = update(outbox).where(*_HOLDER_OF_ACTION).values(
    status=ActionStatus.DEAD.value, last_error=bindparam("new_last_error"), leased_by=None, lease_expires_at=None,
)
# outcome status → (statement, the outcome's keys it binds)
_OUTCOME_SHAPES: dict[str, tuple[Any, tuple[str, ...]]] = {
    ActionStatus.DONE.value: (_RECORD_DONE, ("outcome", "done_at")),
    ActionStatus.PENDING.value: (_RECORD_RETRY, ("last_error", "next_attempt_at")),
    ActionStatus.DEAD.value: (_RECORD_DEAD, ("last_error",)),
}


def held_actions(conn: Connection, worker_id: str, action_ids: list[str]) -> list[str]:
    """held_actions: which of these actions this worker still holds in flight, locked until the transaction ends."""
    ids = sorted(action_ids)
    if not ids:
        return []
    return list(conn.execute(_HELD_ACTIONS, {"action_ids": ids, "worker_id": worker_id}).scalars())


def record_outcomes(conn: Connection, worker_id: str, outcomes: dict[str, dict[str, Any]]) -> set[str]:
    """record_outcomes: write a group of attempts' results, one executemany per outcome shape, only for the
    actions this worker still holds; returns the ids recorded (the others' leases were lost).

    Each outcome is ``{"status": "done", "outcome", "done_at"}``, ``{"status": "pending", "last_error",
    "next_attempt_at"}`` (a retry, marked outcome-unknown) or ``{"status": "dead", "last_error"}``.
    """
    held = held_actions(conn, worker_id, list(outcomes))
    by_shape: dict[str, list[dict[str, Any]]] = {}
    for action_id in held:
        values = outcomes[action_id]
        status = str(values["status"])
        _statement, keys = _OUTCOME_SHAPES[status]
        row = {f"new_{key}": values.get(key) for key in keys}
        by_shape.setdefault(status, []).append({**row, "action_id": action_id, "worker_id": worker_id})
    for status, rows in by_shape.items():
        # guarded again per row: on SQLite FOR UPDATE is dropped (BEGIN IMMEDIATE already serialises writers)
        conn.execute(_OUTCOME_SHAPES[status][0], rows)
    return set(held)


def finish_action(conn: Connection, action_id: str, worker_id: str, values: dict[str, Any]) -> bool:
    """finish_action: record one attempt's result, only while this worker still holds the action.

    A group of one for ``record_outcomes``: ``values`` is one of its outcome shapes.
    """
    return action_id in record_outcomes(conn, worker_id, {action_id: values})


class ActionScope(NamedTuple):
    """The actions a queue-scoped reader may see: those of decisions on items of ``queues``, and of automatic
    decisions (no item) by ``models`` (the models whose decision queue is one of them)."""

    queues: tuple[str, ...]
    models: tuple[str, ...]


def _in_scope(query: Select[Any], scope: ActionScope | None) -> Select[Any]:
    if scope is None:
        return query
    owned = (select(decisions.c.id)
             .join(predictions, predictions.c.id == decisions.c.prediction_id)
             .outerjoin(items, items.c.id == decisions.c.item_id)
             .where(or_(items.c.queue.in_(scope.queues),
                        and_(decisions.c.item_id.is_(None), predictions.c.model_name.in_(scope.models)))))
    return query.where(outbox.c.decision_id.in_(owned))


def count_by_status(conn: Connection, statuses: Sequence[str], scope: ActionScope | None = None) -> dict[str, int]:
    """count_by_status: how many actions (within ``scope``) are in each of these statuses (exact; absent: 0)."""
    rows = conn.execute(_in_scope(select(outbox.c.status, func.count()), scope)
                        .where(outbox.c.status.in_(list(statuses))).group_by(outbox.c.status)).all()
    counted = {status: 0 for status in statuses}
    counted.update({status: int(n) for status, n in rows})
    return counted


def estimated_rows(conn: Connection) -> int | None:
    """estimated_rows: the planner's row estimate for the outbox table (PostgreSQL statistics), else None."""
    if conn.dialect.name != "postgresql":
        return None
    estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'outbox_actions'::regclass")).scalar()
    return int(estimate) if estimate is not None and estimate >= 0 else None


_LIST_COLUMNS = (outbox.c.id, outbox.c.decision_id, outbox.c.connector, outbox.c.status, outbox.c.attempts,
                 outbox.c.last_error, outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.done_at)
_DETAIL_COLUMNS = (*_LIST_COLUMNS, outbox.c.outcome, outbox.c.params)
# what an action was about: its decision's item, verdict and the prediction's model and external id (None for
# an action no decision fired, such as an SLA page)
_SUBJECT_COLUMNS = (decisions.c.item_id, decisions.c.verdict, predictions.c.model_name.label("model"),
                    predictions.c.external_id)


_ABOUT = (outbox.outerjoin(decisions, decisions.c.id == outbox.c.decision_id)
          .outerjoin(predictions, predictions.c.id == decisions.c.prediction_id))


def _with_subject(*columns: Any) -> Select[Any]:
    return select(*columns, *_SUBJECT_COLUMNS).select_from(_ABOUT)


class ActionFilter(NamedTuple):
    """Which actions a list or a bulk replay covers; None matches everything. ``error``: a case-sensitive
    substring of the last error."""

    status: str | None = None
    decision_id: int | None = None
    connector: str | None = None
    model: str | None = None
    error: str | None = None


def _filtered(query: Select[Any], where: ActionFilter) -> Select[Any]:
    if where.status:
        query = query.where(outbox.c.status == where.status)
    if where.decision_id is not None:
        query = query.where(outbox.c.decision_id == where.decision_id)
    if where.connector:
        query = query.where(outbox.c.connector == where.connector)
    if where.model:
        query = query.where(predictions.c.model_name == where.model)
    if where.error:
        query = query.where(outbox.c.last_error.contains(where.error, autoescape=True))
    return query


def list_actions(
    conn: Connection, where: ActionFilter, before: tuple[datetime, str] | None, limit: int,
    scope: ActionScope | None = None,
) -> list[ActionOut]:
    """list_actions: actions (within ``scope``) matching ``where``, newest first, keyset-paged on (created_at, id):
    those strictly older than ``before`` (the last row of the previous page). Served by ix_outbox_created, or
    ix_outbox_status when filtered by status."""
    query = _filtered(_in_scope(_with_subject(*_LIST_COLUMNS), scope), where)
    if before is not None:
        query = query.where(tuple_(outbox.c.created_at, outbox.c.id) < tuple_(
            literal(before[0], UTCDateTime()), literal(before[1])))
    query = query.order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)
    return [ActionOut.model_validate(r) for r in conn.execute(query)]


def count_matching(conn: Connection, where: ActionFilter) -> int:
    """count_matching: how many actions match ``where`` (a bulk replay's preview)."""
    query = _filtered(select(func.count()).select_from(_ABOUT), where)
    return int(conn.execute(query).scalar_one())


def get_action(conn: Connection, action_id: str, scope: ActionScope | None = None) -> ActionOut | None:
    """get_action: one action (within ``scope``) with its outcome, parameters and what it was about."""
    row = conn.execute(_in_scope(_with_subject(*_DETAIL_COLUMNS), scope).where(outbox.c.id == action_id)).first()
    return ActionOut.model_validate(row) if row else None


def _replayed(now: datetime) -> dict[str, Any]:
    """What a replay sets on a dead action, one or many: pending, due now, attempts reset, no holder."""
    return {"status": ActionStatus.PENDING, "attempts": 0, "next_attempt_at": now, "leased_by": None,
            "lease_expires_at": None}


def replay_dead_action(conn: Connection, action_id: str, now: datetime) -> ActionOut | None:
    """replay_dead_action: a dead action back to pending with attempts reset, returned as this statement left it
    (a worker polling every 0.1 s may lease it the moment the transaction commits); None if it is not dead."""
    row = conn.execute(
        update(outbox).where(outbox.c.id == action_id, outbox.c.status == ActionStatus.DEAD)
        .values(**_replayed(now))
        .returning(*_DETAIL_COLUMNS)
    ).first()
    return ActionOut.model_validate(row) if row else None


def replay_dead_actions(conn: Connection, where: ActionFilter, now: datetime) -> list[str]:
    """replay_dead_actions: every dead action matching ``where`` back to pending with attempts reset, due now, as
    replay_dead_action does one; returns their ids (oldest first). The ids are locked first (FOR UPDATE on
    PostgreSQL), then updated only while still dead."""
    matching = _filtered(select(outbox.c.id).select_from(_ABOUT), where._replace(status=ActionStatus.DEAD.value))
    ids = list(conn.execute(matching.order_by(outbox.c.created_at, outbox.c.id)
                            .with_for_update(of=outbox)).scalars())
    if ids:
        conn.execute(
            update(outbox).where(outbox.c.id.in_(ids), outbox.c.status == ActionStatus.DEAD).values(**_replayed(now)))
    return ids


def status_of(conn: Connection, action_id: str) -> str | None:
    """status_of: an action's status, or None when there is no such action."""
    return conn.execute(select(outbox.c.status).where(outbox.c.id == action_id)).scalar()


class DecisionAction(NamedTuple):
    """One action of a decision, as undo, reverse and an overturn weigh it."""

    id: str
    connector: str
    params: dict[str, Any]
    payload: dict[str, Any]
    status: str
    compensates: str | None


def lock_decision_actions(conn: Connection, decision_id: int) -> list[DecisionAction]:
    """lock_decision_actions: every action of a decision, locked in id order until the transaction ends (FOR
    UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), so an undo and the worker's lease of
    the same rows cannot both win."""
    return [DecisionAction(*r) for r in conn.execute(
        select(outbox.c.id, outbox.c.connector, outbox.c.params, outbox.c.payload, outbox.c.status,
               outbox.c.compensates)
        .where(outbox.c.decision_id == decision_id).order_by(outbox.c.id).with_for_update()
    )]


def cancel_pending_actions(conn: Connection, action_ids: Sequence[str], now: datetime,
                           by_decision: int | None = None) -> int:
    """cancel_pending_actions: these actions, while still pending, are never to be fired (status cancelled);
    ``by_decision``: another decision cancelled them (an overturn), noted in ``outcome`` so undoing it restores them."""
    if not action_ids:
        return 0
    return int(conn.execute(
        update(outbox).where(outbox.c.id.in_(list(action_ids)), outbox.c.status == _PENDING_ACTION)
        .values(status=ActionStatus.CANCELLED.value, last_error=f"cancelled at {now.isoformat()}",
                outcome=None if by_decision is None else {"cancelled_by_decision": by_decision},
                leased_by=None, lease_expires_at=None)
    ).rowcount)


def restore_cancelled_actions(conn: Connection, decision_id: int, cancelled_by: int, now: datetime) -> list[str]:
    """restore_cancelled_actions: a decision's actions that decision ``cancelled_by`` cancelled (an overturn, now
    undone) are pending again, due now; returns their ids."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.outcome)
        .where(outbox.c.decision_id == decision_id, outbox.c.status == ActionStatus.CANCELLED.value)
        .order_by(outbox.c.id).with_for_update()
    ).all()
    ids = [str(r.id) for r in rows if (r.outcome or {}).get("cancelled_by_decision") == cancelled_by]
    if ids:
        conn.execute(
            update(outbox).where(outbox.c.id.in_(ids), outbox.c.status == ActionStatus.CANCELLED.value)
            .values(status=_PENDING_ACTION, next_attempt_at=now, last_error=None, outcome=None, leased_by=None,
                    lease_expires_at=None)
        )
    return ids


def compensated_actions(conn: Connection, action_ids: Sequence[str]) -> set[str]:
    """compensated_actions: which of these actions a live compensation (one not cancelled) already undoes."""
    if not action_ids:
        return set()
    return set(conn.execute(
        select(outbox.c.compensates).where(outbox.c.compensates.in_(list(action_ids)),
                                           outbox.c.status != ActionStatus.CANCELLED.value)
    ).scalars())
