"""The SQL that matters, named, each with its one-line purpose.

Built with SQLAlchemy Core so types (UTC datetimes, JSON) bind the same on SQLite and PostgreSQL.
On PostgreSQL the inner SELECTs lock with ``FOR UPDATE SKIP LOCKED``; SQLAlchemy drops that clause on SQLite,
where every write transaction is ``BEGIN IMMEDIATE`` (one writer) and the outer UPDATE re-checks the status,
so each statement stays a single conditional UPDATE … RETURNING on both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, literal_column, select, update
from sqlalchemy.engine import Connection, Row

from reviewqueue.db.driver import CompiledOnce
from reviewqueue.db.tables import Lease, OutboxAction, ReviewItem
from reviewqueue.db.types import UTCDateTime
from reviewqueue.domain.states import ActionStatus, ItemStatus

items = ReviewItem.__table__  # type: ignore[attr-defined]
outbox = OutboxAction.__table__  # type: ignore[attr-defined]
leases = Lease.__table__  # type: ignore[attr-defined]


# Built once at import: building and cache-keying the statement per call cost ~40% of a claim (BENCHMARKS.md §1).
# The status is a literal, not a bound parameter, so PostgreSQL matches the partial index ix_items_claim
# without re-planning each execution.
_PENDING: Any = literal_column("'pending'")


def _claim_statement(queue_matches: Any) -> Any:
    best_pending = (
        select(items.c.id)
        .where(items.c.status == _PENDING, queue_matches)
        .order_by(items.c.priority.desc(), items.c.created_at, items.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(items)
        .where(items.c.id == best_pending, items.c.status == _PENDING)
        .values(
            status=ItemStatus.CLAIMED.value,
            claimed_by=bindparam("principal_id"),
            lease_token=bindparam("lease_token"),
            lease_expires_at=bindparam("expires_at", type_=UTCDateTime()),
        )
        .returning(items.c.id)
    )


_CLAIM_NEXT = _claim_statement(items.c.queue.in_(bindparam("queues", expanding=True)))
# One queue (every reviewer's claim): compiled once and run on the driver cursor on PostgreSQL, where
# SQLAlchemy's per-execution work was most of the Python time of a claim (BENCHMARKS.md §1). "queue = $1",
# not "= ANY($1)": the planner must see one queue to walk ix_items_claim in order instead of sorting.
_CLAIM_FROM_ONE_QUEUE = CompiledOnce(_claim_statement(items.c.queue == bindparam("queue")))


class Claimed(NamedTuple):
    id: int


def claim_next_item(
    conn: Connection, queues: list[str], principal_id: int, lease_token: str, now: datetime, lease_seconds: int
) -> Any:
    """claim_next_item: lease the best pending item of the given queues to one reviewer, atomically."""
    expires = now + timedelta(seconds=lease_seconds)
    if conn.dialect.name == "postgresql" and len(queues) == 1:
        row = _CLAIM_FROM_ONE_QUEUE.first(conn, {"queue": queues[0], "principal_id": principal_id,
                                                 "lease_token": lease_token, "expires_at": expires})
        return Claimed(row[0]) if row else None
    params = {"queues": list(queues), "principal_id": principal_id, "lease_token": lease_token,
              "expires_at": expires}
    return conn.execute(_CLAIM_NEXT, params).first()


_CLAIMED: Any = literal_column("'claimed'")
_HELD_BY = (
    select(items.c.id, items.c.lease_token)
    .where(items.c.queue == bindparam("queue"), items.c.status == _CLAIMED,
           items.c.claimed_by == bindparam("principal_id"),
           items.c.lease_expires_at >= bindparam("now", type_=UTCDateTime()))
    .order_by(items.c.id)
    .limit(1)
)


_HELD_BY_ON_DRIVER = CompiledOnce(_HELD_BY)  # asked before every claim: same treatment as the claim


class Held(NamedTuple):
    id: int
    lease_token: str


def live_item_held_by(conn: Connection, queue: str, principal_id: int, now: datetime) -> Any:
    """live_item_held_by: the item of this queue the reviewer already holds under a live lease, if any."""
    params = {"queue": queue, "principal_id": principal_id, "now": now}
    if conn.dialect.name == "postgresql":
        row = _HELD_BY_ON_DRIVER.first(conn, params)
        return Held(row[0], row[1]) if row else None
    return conn.execute(_HELD_BY, params).first()


_RELEASE_EXPIRED = (
    update(items)
    .where(items.c.status == _CLAIMED, items.c.lease_expires_at < bindparam("now", type_=UTCDateTime()))
    .values(status=ItemStatus.PENDING.value, claimed_by=None, lease_token=None, lease_expires_at=None)
)


def release_expired_item_leases(conn: Connection, now: datetime) -> int:
    """release_expired_item_leases: claimed items whose lease ran out go back to pending (own index scan)."""
    return conn.execute(_RELEASE_EXPIRED, {"now": now}).rowcount


# The lease holder's predicate, shared by renew and close: this item, claimed by this reviewer with this
# token, lease still running.
_HOLDER = (
    items.c.id == bindparam("item_id"),
    items.c.status == _CLAIMED,
    items.c.claimed_by == bindparam("principal_id"),
    items.c.lease_token == bindparam("held_token"),  # not "lease_token": _CLOSE sets that column
    items.c.lease_expires_at >= bindparam("now", type_=UTCDateTime()),
)
_RENEW = update(items).where(*_HOLDER).values(lease_expires_at=bindparam("expires_at", type_=UTCDateTime()))
_CLOSE = update(items).where(*_HOLDER).values(
    status=ItemStatus.DECIDED.value, decided_at=bindparam("decided_at", type_=UTCDateTime()),
    lease_token=None, lease_expires_at=None,
)


def renew_item_lease(
    conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime, lease_seconds: int
) -> datetime | None:
    """renew_item_lease: extend a live lease held by this reviewer with this token; None if lost."""
    expires = now + timedelta(seconds=lease_seconds)
    params = {"item_id": item_id, "principal_id": principal_id, "held_token": lease_token, "now": now,
              "expires_at": expires}
    return expires if conn.execute(_RENEW, params).rowcount == 1 else None


def close_item_with_lease(
    conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime
) -> bool:
    """close_item_with_lease: decide an item only from the live lease that holds it."""
    params = {"item_id": item_id, "principal_id": principal_id, "held_token": lease_token, "now": now,
              "decided_at": now}
    return conn.execute(_CLOSE, params).rowcount == 1


_PENDING_ACTION: Any = literal_column("'pending'")
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
    .returning(*outbox.c)
)


def lease_outbox_batch(
    conn: Connection, worker_id: str, now: datetime, limit: int, visibility_seconds: int
) -> list[Row[Any]]:
    """lease_outbox_batch: take up to ``limit`` due pending actions for one worker (SKIP LOCKED on PostgreSQL).

    The due rows are picked in a CTE joined by equality: PostgreSQL evaluates ``id IN (SELECT … LIMIT n)``
    as a semi-join that can re-run the limited subquery per row and lease far more than ``limit``.
    """
    params = {"now": now, "limit": limit, "worker_id": worker_id,
              "expires_at": now + timedelta(seconds=visibility_seconds)}
    return list(conn.execute(_LEASE_BATCH, params).all())


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
    return conn.execute(statement).rowcount


_RECLAIM = (
    update(outbox)
    .where(outbox.c.status == literal_column("'in_flight'"),
           outbox.c.lease_expires_at < bindparam("now", type_=UTCDateTime()))
    .values(status=ActionStatus.PENDING.value, outcome_unknown=True, leased_by=None, lease_expires_at=None,
            next_attempt_at=bindparam("retry_at", type_=UTCDateTime()))
)


def reclaim_stale_actions(conn: Connection, now: datetime) -> int:
    """reclaim_stale_actions: in-flight actions whose worker vanished go back to pending, marked outcome-unknown."""
    return conn.execute(_RECLAIM, {"now": now, "retry_at": now}).rowcount


def finish_action(conn: Connection, action_id: str, worker_id: str, values: dict[str, Any]) -> bool:
    """finish_action: record one attempt's result, only while this worker still holds the action.

    A group of one for ``record_outcomes``: ``values`` is one of its outcome shapes.
    """
    return action_id in record_outcomes(conn, worker_id, {action_id: values})


def acquire_lease(conn: Connection, name: str, holder: str, now: datetime, seconds: int) -> bool:
    """acquire_lease: take or renew a named lease if it is free, expired, or already ours (leader election)."""
    expires = now + timedelta(seconds=seconds)
    taken = conn.execute(
        update(leases)
        .where(leases.c.name == name, (leases.c.holder == holder) | (leases.c.expires_at < now))
        .values(holder=holder, expires_at=expires)
    ).rowcount
    if taken:
        return True
    exists = conn.execute(select(func.count()).select_from(leases).where(leases.c.name == name)).scalar_one()
    if exists:
        return False
    conn.execute(leases.insert().values(name=name, holder=holder, expires_at=expires))
    return True


def queue_overview(conn: Connection, now: datetime) -> list[Row[Any]]:
    """queue_overview: per queue depth, claimed now, oldest pending — counts only, never payload columns."""
    statement = (
        select(
            items.c.queue,
            func.count().filter(items.c.status == ItemStatus.PENDING).label("pending"),
            func.count().filter(items.c.status == ItemStatus.CLAIMED).label("claimed"),
            func.min(items.c.created_at).filter(items.c.status == ItemStatus.PENDING).label("oldest"),
        )
        # IN (the literals of ix_items_open's predicate), not "!= 'decided'": an index-only scan of open items
        .where(items.c.status.in_([literal_column("'pending'"), literal_column("'claimed'")]))
        .group_by(items.c.queue)
    )
    return list(conn.execute(statement).all())


# Recording a group of attempts' outcomes (BENCHMARKS.md §5): a transaction per action spent most of the
# delivery threads' time in COMMIT and statement building. Built once at import, one statement per outcome
# shape, so a group is one SELECT plus one executemany per shape in one transaction. The status in WHERE is a
# literal, as in _LEASE_BATCH; bind names differ from column names, which SQLAlchemy reserves in SET clauses.
_IN_FLIGHT_ACTION: Any = literal_column("'in_flight'")
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
