"""The SQL that matters, named, each with its one-line purpose.

Built with SQLAlchemy Core so types (UTC datetimes, JSON) bind the same on SQLite and PostgreSQL.
On PostgreSQL the inner SELECTs lock with ``FOR UPDATE SKIP LOCKED``; SQLAlchemy drops that clause on SQLite,
where every write transaction is ``BEGIN IMMEDIATE`` (one writer) and the outer UPDATE re-checks the status,
so each statement stays a single conditional UPDATE … RETURNING on both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, update
from sqlalchemy.engine import Connection, Row

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
_BEST_PENDING = (
    select(items.c.id)
    .where(items.c.status == _PENDING, items.c.queue.in_(bindparam("queues", expanding=True)))
    .order_by(items.c.priority.desc(), items.c.created_at, items.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM_NEXT = (
    update(items)
    .where(items.c.id == _BEST_PENDING, items.c.status == _PENDING)
    .values(
        status=ItemStatus.CLAIMED.value,
        claimed_by=bindparam("principal_id"),
        lease_token=bindparam("lease_token"),
        lease_expires_at=bindparam("expires_at", type_=UTCDateTime()),
    )
    .returning(items.c.id)
)


def claim_next_item(
    conn: Connection, queues: list[str], principal_id: int, lease_token: str, now: datetime, lease_seconds: int
) -> Row[Any] | None:
    """claim_next_item: lease the best pending item of the given queues to one reviewer, atomically."""
    params = {"queues": list(queues), "principal_id": principal_id, "lease_token": lease_token,
              "expires_at": now + timedelta(seconds=lease_seconds)}
    return conn.execute(_CLAIM_NEXT, params).first()


def live_item_held_by(conn: Connection, queue: str, principal_id: int, now: datetime) -> Row[Any] | None:
    """live_item_held_by: the item of this queue the reviewer already holds under a live lease, if any."""
    statement = (
        select(items.c.id, items.c.lease_token)
        .where(items.c.queue == queue, items.c.status == ItemStatus.CLAIMED, items.c.claimed_by == principal_id,
               items.c.lease_expires_at >= now)
        .order_by(items.c.id)
        .limit(1)
    )
    return conn.execute(statement).first()


def release_expired_item_leases(conn: Connection, now: datetime) -> int:
    """release_expired_item_leases: claimed items whose lease ran out go back to pending (own index scan)."""
    statement = (
        update(items)
        .where(items.c.status == ItemStatus.CLAIMED, items.c.lease_expires_at < now)
        .values(status=ItemStatus.PENDING, claimed_by=None, lease_token=None, lease_expires_at=None)
    )
    return conn.execute(statement).rowcount


def renew_item_lease(
    conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime, lease_seconds: int
) -> datetime | None:
    """renew_item_lease: extend a live lease held by this reviewer with this token; None if lost."""
    expires = now + timedelta(seconds=lease_seconds)
    statement = (
        update(items)
        .where(
            items.c.id == item_id,
            items.c.status == ItemStatus.CLAIMED,
            items.c.claimed_by == principal_id,
            items.c.lease_token == lease_token,
            items.c.lease_expires_at >= now,
        )
        .values(lease_expires_at=expires)
    )
    return expires if conn.execute(statement).rowcount == 1 else None


def close_item_with_lease(
    conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime
) -> bool:
    """close_item_with_lease: decide an item only from the live lease that holds it."""
    statement = (
        update(items)
        .where(
            items.c.id == item_id,
            items.c.status == ItemStatus.CLAIMED,
            items.c.claimed_by == principal_id,
            items.c.lease_token == lease_token,
            items.c.lease_expires_at >= now,
        )
        .values(status=ItemStatus.DECIDED, decided_at=now, lease_token=None, lease_expires_at=None)
    )
    return conn.execute(statement).rowcount == 1


def lease_outbox_batch(
    conn: Connection, worker_id: str, now: datetime, limit: int, visibility_seconds: int
) -> list[Row[Any]]:
    """lease_outbox_batch: take up to ``limit`` due pending actions for one worker (SKIP LOCKED on PostgreSQL).

    The due rows are picked in a CTE joined by equality: PostgreSQL evaluates ``id IN (SELECT … LIMIT n)``
    as a semi-join that can re-run the limited subquery per row and lease far more than ``limit``.
    """
    due = (
        select(outbox.c.id)
        .where(outbox.c.status == ActionStatus.PENDING, outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    statement = (
        update(outbox)
        .where(outbox.c.id == due.c.id, outbox.c.status == ActionStatus.PENDING)
        .values(
            status=ActionStatus.IN_FLIGHT,
            leased_by=worker_id,
            lease_expires_at=now + timedelta(seconds=visibility_seconds),
            attempts=outbox.c.attempts + 1,
        )
        .returning(*outbox.c)
    )
    return list(conn.execute(statement).all())


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


def reclaim_stale_actions(conn: Connection, now: datetime) -> int:
    """reclaim_stale_actions: in-flight actions whose worker vanished go back to pending, marked outcome-unknown."""
    statement = (
        update(outbox)
        .where(outbox.c.status == ActionStatus.IN_FLIGHT, outbox.c.lease_expires_at < now)
        .values(status=ActionStatus.PENDING, outcome_unknown=True, leased_by=None, lease_expires_at=None,
                next_attempt_at=now)
    )
    return conn.execute(statement).rowcount


def finish_action(conn: Connection, action_id: str, worker_id: str, values: dict[str, Any]) -> bool:
    """finish_action: record an attempt's result, only while this worker still holds the action."""
    statement = (
        update(outbox)
        .where(
            outbox.c.id == action_id,
            outbox.c.status == ActionStatus.IN_FLIGHT,
            outbox.c.leased_by == worker_id,
        )
        .values(**values)
    )
    return conn.execute(statement).rowcount == 1


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
        # IN (literals), not "!= 'decided'": lets PostgreSQL use ix_items_queue_status instead of a full scan
        .where(items.c.status.in_([literal_column("'pending'"), literal_column("'claimed'")]))
        .group_by(items.c.queue)
    )
    return list(conn.execute(statement).all())
