"""Review items: claim-next, leases, closing, the triage view, list pages and queue counts — each statement named.

Built with SQLAlchemy Core so types (UTC datetimes, JSON) bind the same on SQLite and PostgreSQL.
On PostgreSQL the inner SELECTs lock with ``FOR UPDATE SKIP LOCKED``; SQLAlchemy drops that clause on SQLite,
where every write transaction is ``BEGIN IMMEDIATE`` (one writer) and the outer UPDATE re-checks the status,
so each claim stays a single conditional UPDATE … RETURNING on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, literal_column, null, select, union_all, update
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.driver import CompiledOnce
from reviewqueue.db.leases import release_hold_range
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import leases_table as leases
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.tables import versions_table as versions
from reviewqueue.db.types import UTCDateTime
from reviewqueue.domain.states import ItemStatus
from reviewqueue.schemas import ItemSummary

__all__ = [
    "Claimed", "DecisionTarget", "Held", "HeldAndSkipped", "ItemView", "OverdueItem", "QueueCounts",
    "claim_next_item", "claim_oldest_of_kind", "claim_this_item",
    "close_item_with_lease", "count_created_since", "count_overdue", "decision_target", "held_and_skipped",
    "insert_items", "item_view", "list_items", "live_item_held_by", "mark_paged", "move_item_with_lease",
    "overdue_unpaged", "queue_overview",
    "quarantine_item", "release_expired_item_leases", "release_item_lease", "renew_item_lease",
    "reopen_item",
]

# Built once at import: building and cache-keying the statement per call cost ~40% of a claim (BENCHMARKS.md §1).
# The status is a literal, not a bound parameter, so PostgreSQL matches the partial index ix_items_claim
# without re-planning each execution.
_PENDING: Any = literal_column("'pending'")
_CLAIMED: Any = literal_column("'claimed'")


# Items the claimer released a moment ago (services.queue.release): only the variants used when there are some
# carry this predicate, so the usual claim statement stays exactly as it was.
_NOT_SKIPPED: Any = items.c.id.not_in(bindparam("skipped", expanding=True))


# When the claim began (a reviewer's time to decision, services.operations); a caller that passes none stores NULL.
_CLAIMED_AT: Any = bindparam("claimed_at", value=None, type_=UTCDateTime(), required=False)


def _claim_statement(queue_matches: Any, *more: Any) -> Any:
    best_pending = (
        select(items.c.id)
        .where(items.c.status == _PENDING, queue_matches, *more)
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
            claimed_at=_CLAIMED_AT,
        )
        .returning(items.c.id)
    )


_CLAIM_NEXT = _claim_statement(items.c.queue.in_(bindparam("queues", expanding=True)))
# One queue (every reviewer's claim): compiled once and run on the driver cursor on PostgreSQL, where
# SQLAlchemy's per-execution work was most of the Python time of a claim (BENCHMARKS.md §1). "queue = $1",
# not "= ANY($1)": the planner must see one queue to walk ix_items_claim in order instead of sorting.
CLAIM_FROM_ONE_QUEUE = CompiledOnce(_claim_statement(items.c.queue == bindparam("queue")))
_CLAIM_NEXT_SKIPPING = _claim_statement(items.c.queue.in_(bindparam("queues", expanding=True)), _NOT_SKIPPED)


class Claimed(NamedTuple):
    id: int


# One named item (a deep link): the same claim statement, its inner SELECT narrowed to that id, so a deep-linked
# claim takes exactly the locks, holds and lease a claim-next would.
_CLAIM_THIS = _claim_statement(items.c.queue == bindparam("in_queue"), items.c.id == bindparam("wanted"))
_CLAIM_THIS_SKIPPING = _claim_statement(items.c.queue == bindparam("in_queue"), items.c.id == bindparam("wanted"),
                                        _NOT_SKIPPED)


def claim_this_item(
    conn: Connection, item_id: int, queue: str, principal_id: int, lease_token: str, now: datetime,
    lease_seconds: int, skipped: Sequence[int] = (),
) -> Claimed | None:
    """claim_this_item: lease one named item of a queue to a reviewer if it is pending there and not one of
    ``skipped`` (released or voted on by them a moment ago), atomically, like claim_next_item."""
    return _run_claim(conn, _CLAIM_THIS, _CLAIM_THIS_SKIPPING, {"in_queue": queue, "wanted": item_id},
                      principal_id, lease_token, now, lease_seconds, skipped)


def _run_claim(
    conn: Connection, plain: Any, skipping: Any, match: dict[str, Any], principal_id: int, lease_token: str,
    now: datetime, lease_seconds: int, skipped: Sequence[int],
) -> Claimed | None:
    """One claim variant with its ``match`` parameters and the lease's; the skipping variant when items are
    skipped (released or voted on by this reviewer a moment ago)."""
    params: dict[str, Any] = {**match, "principal_id": principal_id, "lease_token": lease_token,
                              "expires_at": now + timedelta(seconds=lease_seconds), "claimed_at": now}
    if skipped:
        params["skipped"] = list(skipped)
    found = conn.execute(skipping if skipped else plain, params).first()
    return Claimed(found[0]) if found else None


def _claim_oldest_of_kind_statement(*more: Any) -> Any:
    oldest_of_kind = (
        select(items.c.id)
        .where(items.c.status == _PENDING, items.c.queue == bindparam("in_queue"),
               items.c.kind == bindparam("of_kind"), *more)
        .order_by(items.c.created_at, items.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(items)
        .where(items.c.id == oldest_of_kind, items.c.status == _PENDING)
        .values(status=ItemStatus.CLAIMED.value, claimed_by=bindparam("principal_id"),
                lease_token=bindparam("lease_token"), lease_expires_at=bindparam("expires_at", type_=UTCDateTime()),
                claimed_at=_CLAIMED_AT)
        .returning(items.c.id)
    )


_CLAIM_OLDEST_OF_KIND = _claim_oldest_of_kind_statement()
_CLAIM_OLDEST_OF_KIND_SKIPPING = _claim_oldest_of_kind_statement(_NOT_SKIPPED)


def claim_oldest_of_kind(
    conn: Connection, queue: str, kind: str, principal_id: int, lease_token: str, now: datetime, lease_seconds: int,
    skipped: Sequence[int] = (),
) -> Claimed | None:
    """claim_oldest_of_kind: lease the oldest pending item of one kind (an audit) in a queue (ix_items_claim_kind),
    none of ``skipped``."""
    return _run_claim(conn, _CLAIM_OLDEST_OF_KIND, _CLAIM_OLDEST_OF_KIND_SKIPPING, {"in_queue": queue, "of_kind": kind},
                      principal_id, lease_token, now, lease_seconds, skipped)


def claim_next_item(
    conn: Connection, queues: list[str], principal_id: int, lease_token: str, now: datetime, lease_seconds: int,
    skipped: Sequence[int] = (),
) -> Claimed | None:
    """claim_next_item: lease the best pending item of the given queues to one reviewer, atomically, none of
    ``skipped`` (items this reviewer released a moment ago)."""
    expires = now + timedelta(seconds=lease_seconds)
    if skipped:
        found = conn.execute(_CLAIM_NEXT_SKIPPING, {
            "queues": list(queues), "skipped": list(skipped), "principal_id": principal_id,
            "lease_token": lease_token, "expires_at": expires, "claimed_at": now}).first()
        return Claimed(found[0]) if found else None
    if conn.dialect.name == "postgresql" and len(queues) == 1:
        row = CLAIM_FROM_ONE_QUEUE.first(conn, {"queue": queues[0], "principal_id": principal_id,
                                                "lease_token": lease_token, "expires_at": expires,
                                                "claimed_at": now})
        return Claimed(row[0]) if row else None
    params = {"queues": list(queues), "principal_id": principal_id, "lease_token": lease_token,
              "expires_at": expires, "claimed_at": now}
    found = conn.execute(_CLAIM_NEXT, params).first()
    return Claimed(found[0]) if found else None


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


def live_item_held_by(conn: Connection, queue: str, principal_id: int, now: datetime) -> Held | None:
    """live_item_held_by: the item of this queue the reviewer already holds under a live lease, if any."""
    params = {"queue": queue, "principal_id": principal_id, "now": now}
    if conn.dialect.name == "postgresql":
        row = _HELD_BY_ON_DRIVER.first(conn, params)
    else:
        row = conn.execute(_HELD_BY, params).first()
    return Held(row[0], row[1]) if row else None


# The held lookup and the reviewer's live release holds in one round trip: the holds are one range scan of the
# leases primary key, which finds nothing unless the reviewer released an item in the last release_hold_seconds.
_HOLDS = (
    select(null().label("id"), leases.c.name.label("lease_token"))
    .where(leases.c.name >= bindparam("holds_from"), leases.c.name < bindparam("holds_to"),
           leases.c.expires_at >= bindparam("now", type_=UTCDateTime()))
)
_HELD_AND_SKIPPED = union_all(select(_HELD_BY.subquery()), _HOLDS)
_HELD_AND_SKIPPED_ON_DRIVER = CompiledOnce(_HELD_AND_SKIPPED)


class HeldAndSkipped(NamedTuple):
    held: Held | None
    skipped: list[int]  # items this reviewer released whose hold has not run out


def held_and_skipped(conn: Connection, queue: str, principal_id: int, now: datetime) -> HeldAndSkipped:
    """held_and_skipped: the item of this queue the reviewer holds under a live lease, if any, and the items
    they released that their claims still skip (one statement)."""
    low, high = release_hold_range(principal_id)
    params = {"queue": queue, "principal_id": principal_id, "now": now, "holds_from": low, "holds_to": high}
    if conn.dialect.name == "postgresql":
        rows = _HELD_AND_SKIPPED_ON_DRIVER.all(conn, params)
    else:
        rows = [tuple(r) for r in conn.execute(_HELD_AND_SKIPPED, params)]
    held = next((Held(r[0], r[1]) for r in rows if r[0] is not None), None)
    skipped = [int(r[1].rsplit(":", 1)[1]) for r in rows if r[0] is None and r[1].startswith(low)]
    return HeldAndSkipped(held, skipped)


_RELEASE_EXPIRED = (
    update(items)
    .where(items.c.status == _CLAIMED, items.c.lease_expires_at < bindparam("now", type_=UTCDateTime()))
    .values(status=ItemStatus.PENDING.value, claimed_by=None, lease_token=None, lease_expires_at=None)
)


def release_expired_item_leases(conn: Connection, now: datetime) -> int:
    """release_expired_item_leases: claimed items whose lease ran out go back to pending (own index scan)."""
    return int(conn.execute(_RELEASE_EXPIRED, {"now": now}).rowcount)


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


_QUARANTINE = (
    update(items)
    .where(items.c.id == bindparam("item_id"), items.c.status.in_([_PENDING, _CLAIMED]))
    .values(status=ItemStatus.QUARANTINED.value, claimed_by=None, lease_token=None, lease_expires_at=None)
)
_RELEASE = update(items).where(*_HOLDER).values(
    status=ItemStatus.PENDING.value, claimed_by=None, lease_token=None, lease_expires_at=None)


def quarantine_item(conn: Connection, item_id: int) -> bool:
    """quarantine_item: take a pending or claimed item that cannot be shown out of the claim path (lease dropped)."""
    return bool(conn.execute(_QUARANTINE, {"item_id": item_id}).rowcount == 1)


def release_item_lease(conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime) -> bool:
    """release_item_lease: give a live lease back (the item is pending again), e.g. when its claim failed."""
    params = {"item_id": item_id, "principal_id": principal_id, "held_token": lease_token, "now": now}
    return bool(conn.execute(_RELEASE, params).rowcount == 1)


_MOVE = update(items).where(*_HOLDER).values(
    queue=bindparam("to_queue"), status=ItemStatus.PENDING.value, claimed_by=None, lease_token=None,
    lease_expires_at=None)


def move_item_with_lease(
    conn: Connection, item_id: int, principal_id: int, lease_token: str, now: datetime, to_queue: str
) -> bool:
    """move_item_with_lease: from the live lease that holds it, put an item pending in another queue (escalate);
    its priority and age stay."""
    params = {"item_id": item_id, "principal_id": principal_id, "held_token": lease_token, "now": now,
              "to_queue": to_queue}
    return bool(conn.execute(_MOVE, params).rowcount == 1)


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
    return bool(conn.execute(_CLOSE, params).rowcount == 1)


def insert_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """insert_items: enqueue review items in one bulk write (ids in row order)."""
    return bulk.insert_with_ids(conn, items, rows)


class QueueCounts(NamedTuple):
    queue: str
    pending: int
    claimed: int
    oldest: datetime | None


_OVERVIEW = (
    select(
        items.c.queue,
        func.count().filter(items.c.status == ItemStatus.PENDING).label("pending"),
        func.count().filter(items.c.status == ItemStatus.CLAIMED).label("claimed"),
        func.min(items.c.created_at).filter(items.c.status == ItemStatus.PENDING).label("oldest"),
    )
    # IN (the literals of ix_items_open's predicate), not "!= 'decided'": an index-only scan of open items
    .where(items.c.status.in_([_PENDING, _CLAIMED]))
    .group_by(items.c.queue)
)


def queue_overview(conn: Connection) -> list[QueueCounts]:
    """queue_overview: per queue depth, claimed now, oldest pending — counts only, never payload columns."""
    return [QueueCounts(r.queue, int(r.pending), int(r.claimed), r.oldest) for r in conn.execute(_OVERVIEW)]


def count_overdue(conn: Connection, queue: str, min_priority: float, created_before: datetime) -> int:
    """count_overdue: pending items of a queue at or above an SLA's priority that have waited past its cutoff."""
    return int(conn.execute(
        select(func.count()).select_from(items).where(
            items.c.queue == queue, items.c.status == ItemStatus.PENDING, items.c.priority >= min_priority,
            items.c.created_at < created_before)
    ).scalar_one())


def count_created_since(conn: Connection, queue: str, since: datetime) -> int:
    """count_created_since: items a queue received since a moment (a learning queue's budget used today)."""
    return int(conn.execute(
        select(func.count()).select_from(items).where(items.c.queue == queue, items.c.created_at >= since)
    ).scalar_one())


@dataclass(frozen=True)
class ItemView:
    """An item joined with its prediction and the version that scored it: what the triage page needs."""

    id: int
    queue: str
    kind: str
    status: str
    priority: float
    created_at: datetime
    prediction_id: int
    claimed_by: int | None
    lease_expires_at: datetime | None
    external_id: str
    model_name: str
    score: float
    route: str
    features: dict[str, Any]
    context: dict[str, Any]
    version: int
    version_id: int
    artifact_path: str
    sha256: str
    input_schema: dict[str, Any]


_ITEM_VIEW = (
    select(items.c.id, items.c.queue, items.c.kind, items.c.status, items.c.priority, items.c.created_at,
           items.c.prediction_id, items.c.claimed_by, items.c.lease_expires_at,
           predictions.c.external_id, predictions.c.model_name, predictions.c.score,
           predictions.c.route, predictions.c.features, predictions.c.context,
           versions.c.version, versions.c.id.label("version_id"),
           versions.c.artifact_path, versions.c.sha256, versions.c.input_schema)
    .join(predictions, predictions.c.id == items.c.prediction_id)
    .join(versions, versions.c.id == predictions.c.version_id)
    .where(items.c.id == bindparam("item_id"))
)


def item_view(conn: Connection, item_id: int) -> ItemView | None:
    """item_view: one item with its prediction and scoring version (one indexed join)."""
    row = conn.execute(_ITEM_VIEW, {"item_id": item_id}).first()
    return ItemView(**row._asdict()) if row else None


def list_items(
    conn: Connection, queue: str | None, status: str | None, before_id: int | None, limit: int
) -> list[ItemSummary]:
    """list_items: a queue's items (every queue's when None) newest first, keyset-paged by id (ids below
    ``before_id``); no payloads."""
    query = (
        select(items.c.id, items.c.queue, items.c.kind, items.c.status, items.c.priority, items.c.created_at,
               items.c.prediction_id, items.c.lease_expires_at)
        .order_by(items.c.id.desc())
        .limit(limit)
    )
    if queue is not None:
        query = query.where(items.c.queue == queue)
    if status:
        query = query.where(items.c.status == status)
    if before_id is not None:
        query = query.where(items.c.id < before_id)
    return [ItemSummary.model_validate(r) for r in conn.execute(query)]


class DecisionTarget(NamedTuple):
    """What a decision needs about its item: where it sits, and the prediction its actions describe."""

    queue: str
    kind: str
    status: str
    prediction_id: int
    model_name: str
    external_id: str
    score: float
    features: dict[str, Any]
    context: dict[str, Any]
    selection_probability: float


_DECISION_TARGET = (
    select(items.c.queue, items.c.kind, items.c.status, predictions.c.id, predictions.c.model_name,
           predictions.c.external_id, predictions.c.score, predictions.c.features, predictions.c.context,
           predictions.c.selection_probability)
    .join(predictions, predictions.c.id == items.c.prediction_id)
    .where(items.c.id == bindparam("item_id"))
)


def decision_target(conn: Connection, item_id: int) -> DecisionTarget | None:
    """decision_target: the item a verdict is about and its prediction, read inside the decision's transaction."""
    row = conn.execute(_DECISION_TARGET, {"item_id": item_id}).first()
    return DecisionTarget._make(row) if row else None


class OverdueItem(NamedTuple):
    id: int
    priority: float
    external_id: str
    score: float
    prediction_id: int


def overdue_unpaged(
    conn: Connection, queue: str, min_priority: float, created_before: datetime, limit: int
) -> list[OverdueItem]:
    """overdue_unpaged: pending high-risk items of a queue past their SLA that nobody was paged about yet."""
    return [OverdueItem(*r) for r in conn.execute(
        select(items.c.id, items.c.priority, predictions.c.external_id, predictions.c.score,
               predictions.c.id.label("prediction_id"))
        .join(predictions, predictions.c.id == items.c.prediction_id)
        .where(items.c.queue == queue, items.c.status == ItemStatus.PENDING, items.c.paged_at.is_(None),
               items.c.priority >= min_priority, items.c.created_at < created_before)
        .order_by(items.c.priority.desc()).limit(limit)
    )]


def mark_paged(conn: Connection, item_id: int, now: datetime) -> bool:
    """mark_paged: record the SLA page on an item, once; False if another scheduler paged it first."""
    return bool(conn.execute(
        update(items).where(items.c.id == item_id, items.c.paged_at.is_(None)).values(paged_at=now)
    ).rowcount == 1)


def reopen_item(conn: Connection, item_id: int) -> bool:
    """reopen_item: a decided item back to pending in its queue (its decision was undone or reversed)."""
    return bool(conn.execute(
        update(items).where(items.c.id == item_id, items.c.status == ItemStatus.DECIDED)
        .values(status=ItemStatus.PENDING.value, claimed_by=None, lease_token=None, lease_expires_at=None,
                decided_at=None)
    ).rowcount == 1)
