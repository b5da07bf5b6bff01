"""Queues: overview, claim next (one atomic statement), renew a lease, show an item with its explanation."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from reviewqueue.db import queries
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem
from reviewqueue.domain.states import ItemStatus, Role
from reviewqueue.errors import Forbidden, LeaseLost, NotFound
from reviewqueue.registry import ModelSpec
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import AppContext
from reviewqueue.services.sla import sla_due_at

log = logging.getLogger(__name__)
items = ReviewItem.__table__  # type: ignore[attr-defined]
predictions = Prediction.__table__  # type: ignore[attr-defined]
versions = ModelVersion.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueueStats:
    queue: str
    model: str | None
    pending: int
    claimed: int
    oldest_pending_at: datetime | None
    oldest_age_seconds: float | None
    overdue: int
    kind: str
    sla_minutes: float | None


def _queue_specs(ctx: AppContext) -> dict[str, tuple[ModelSpec, str]]:
    """Every declared queue → (its model, 'decision' | 'learning')."""
    out: dict[str, tuple[ModelSpec, str]] = {}
    for spec in ctx.registry.models():
        out[spec.queue] = (spec, "decision")
        if spec.learning:
            out[spec.learning.queue] = (spec, "learning")
    return out


def _overdue_count(ctx: AppContext, spec: ModelSpec, now: datetime) -> int:
    if spec.sla is None:
        return 0
    with ctx.read() as conn:
        return int(conn.execute(
            select(func.count()).select_from(items).where(
                items.c.queue == spec.queue, items.c.status == ItemStatus.PENDING,
                items.c.priority >= spec.sla.min_priority,
                items.c.created_at < now - timedelta(minutes=spec.sla.minutes))
        ).scalar_one())


def overview(ctx: AppContext, actor: Actor) -> list[QueueStats]:
    """Depth, claimed now, oldest age and overdue count for each queue this actor may see (empty ones too)."""
    now = ctx.now()
    with ctx.read() as conn:
        rows = {r.queue: r for r in queries.queue_overview(conn, now)}
    declared = _queue_specs(ctx)

    def visible(queue: str) -> bool:
        return actor.role != Role.REVIEWER or actor.can_review(queue)

    out = []
    for queue in sorted(q for q in set(declared) | set(rows) if visible(q)):
        row = rows.get(queue)
        spec, kind = declared.get(queue, (None, "decision"))
        oldest = row.oldest if row else None
        out.append(QueueStats(
            queue, spec.name if spec else None, row.pending if row else 0, row.claimed if row else 0, oldest,
            (now - oldest).total_seconds() if oldest else None,
            _overdue_count(ctx, spec, now) if spec and kind == "decision" else 0, kind,
            spec.sla.minutes if spec and spec.sla and kind == "decision" else None,
        ))
    return out


def sla_fields(ctx: AppContext, model_name: str, queue: str, status: str, priority: float,
               created_at: datetime) -> dict[str, Any]:
    due = sla_due_at(ctx.registry.model(model_name), queue, priority, created_at)
    # overdue until decided: a breach stays visible to whoever picks the item up late
    return {"sla_due_at": due, "overdue": bool(due and status != ItemStatus.DECIDED and ctx.now() > due)}


# Expired leases go back to pending at most this long after they run out, whoever claims next. Sweeping on
# every claim cost 30% of claim throughput (BENCHMARKS.md §1); the worker also sweeps every 2 s.
LEASE_SWEEP_EVERY = timedelta(seconds=1)


def _sweep_due(ctx: AppContext, now: datetime) -> bool:
    last = ctx.last_lease_sweep
    if last is not None and timedelta(0) <= now - last < LEASE_SWEEP_EVERY:
        return False
    ctx.last_lease_sweep = now  # a race between two threads costs one extra sweep, nothing else
    return True


@dataclass(frozen=True)
class Claim:
    item_id: int
    lease_token: str
    already_held: bool
    row: Any  # the item view's row, read in the claim transaction


def claim_next(ctx: AppContext, actor: Actor, queue: str) -> dict[str, Any] | None:
    """Lease the highest-priority pending item of ``queue`` to the actor; None when the queue is empty."""
    actor.require_queue(queue)
    with ctx.engine.begin() as conn:
        claim = claim_in_transaction(ctx, conn, actor.id, queue)
    if claim is None:
        return None
    if not claim.already_held:
        log.info("item claimed", extra={"action": "item_claimed", "item_id": claim.item_id, "actor": actor.name})
    return _view(ctx, actor, claim.row, claim.item_id, lease_token=claim.lease_token)


def claim_in_transaction(ctx: AppContext, conn: Connection, principal_id: int, queue: str) -> Claim | None:
    """The statements of one claim, in the caller's transaction (bench/claim.py times exactly these)."""
    now = ctx.now()
    if _sweep_due(ctx, now):
        queries.release_expired_item_leases(conn, now)
    held = queries.live_item_held_by(conn, queue, principal_id, now)
    if held is not None:
        # The reviewer already holds one (a reload, a second tab, or a reply lost to a network error after
        # the claim committed): give it back rather than leasing a second item that nobody sees.
        return Claim(held.id, held.lease_token, True, _item_row(conn, held.id))
    token = secrets.token_hex(16)
    claimed = queries.claim_next_item(conn, [queue], principal_id, token, now, ctx.settings.lease_seconds)
    if claimed is None:
        return None
    # same connection and transaction: no second checkout per claim
    return Claim(claimed.id, token, False, _item_row(conn, claimed.id))


def renew(ctx: AppContext, actor: Actor, item_id: int, lease_token: str) -> datetime:
    with ctx.engine.begin() as conn:
        expires = queries.renew_item_lease(conn, item_id, actor.id, lease_token, ctx.now(),
                                           ctx.settings.lease_seconds)
    if expires is None:
        raise LeaseLost()
    return expires


def release_expired(ctx: AppContext) -> int:
    with ctx.engine.begin() as conn:
        return queries.release_expired_item_leases(conn, ctx.now())


_ITEM_VIEW = (
    select(items, predictions.c.external_id, predictions.c.model_name, predictions.c.score,
           predictions.c.route, predictions.c.features, predictions.c.context,
           predictions.c.created_at.label("scored_at"), versions.c.version, versions.c.id.label("vid"),
           versions.c.artifact_path, versions.c.sha256, versions.c.input_schema)
    .join(predictions, predictions.c.id == items.c.prediction_id)
    .join(versions, versions.c.id == predictions.c.version_id)
    .where(items.c.id == bindparam("item_id"))
)


def item_view(ctx: AppContext, actor: Actor, item_id: int, lease_token: str | None = None) -> dict[str, Any]:
    """Everything the triage page shows: the event, score, version, explanation, verdicts and the lease."""
    with ctx.read() as conn:
        row = _item_row(conn, item_id)
    return _view(ctx, actor, row, item_id, lease_token)


def _item_row(conn: Connection, item_id: int) -> Any:
    return conn.execute(_ITEM_VIEW, {"item_id": item_id}).first()


def _view(ctx: AppContext, actor: Actor, row: Any, item_id: int,
          lease_token: str | None) -> dict[str, Any]:
    if row is None:
        raise NotFound(f"item {item_id} not found", field="item_id")
    if not actor.can_review(row.queue) and actor.role not in (Role.ADMIN, Role.DATA_SCIENTIST):
        raise Forbidden(f"not allowed to see items of queue {row.queue!r}")
    holder_view = row.status == ItemStatus.CLAIMED and row.claimed_by == actor.id
    spec = ctx.registry.model(row.model_name)
    return {
        "id": row.id, "queue": row.queue, "kind": row.kind, "status": row.status, "priority": row.priority,
        "created_at": row.created_at, "prediction_id": row.prediction_id, "external_id": row.external_id,
        "model": row.model_name, "model_version": row.version, "score": row.score, "route": row.route,
        "features": row.features, "context": row.context, "verdicts": list(spec.verdicts),
        "explanation": explain(ctx, row),
        "lease_token": lease_token if holder_view else None,
        "lease_expires_at": row.lease_expires_at if holder_view else None,
        "claimed_by_me": holder_view,
        **sla_fields(ctx, row.model_name, row.queue, row.status, row.priority, row.created_at),
    }


def explain(ctx: AppContext, row: Any) -> list[dict[str, Any]]:
    """Why the model scored this item as it did, computed only for the item shown (see serving.scorers)."""
    spec = ctx.registry.model(row.model_name)
    scorer = ctx.scorers.get(spec, row.vid, row.artifact_path, row.sha256)
    return scorer.explain(row.features, row.input_schema or {})


def list_items(
    ctx: AppContext, actor: Actor, queue: str, status: str | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Keyset-paged item list; reads no payload columns."""
    actor.require(Role.ADMIN, Role.DATA_SCIENTIST, Role.REVIEWER)
    if actor.role == Role.REVIEWER:
        actor.require_queue(queue)
    declared = _queue_specs(ctx)
    query = (
        select(items.c.id, items.c.queue, items.c.kind, items.c.status, items.c.priority, items.c.created_at,
               items.c.prediction_id, items.c.lease_expires_at)
        .where(items.c.queue == queue)
        .order_by(items.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(items.c.status == status)
    if after_id is not None:
        query = query.where(items.c.id < after_id)
    with ctx.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query).all()]
    if queue in declared:
        spec = declared[queue][0]
        for r in rows:
            r.update(sla_fields(ctx, spec.name, r["queue"], r["status"], r["priority"], r["created_at"]))
    return rows
