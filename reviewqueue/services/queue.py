"""Queues: overview, claim next (one atomic statement), renew a lease, show an item with its explanation."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from reviewqueue.db import queries
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem
from reviewqueue.domain.states import ItemStatus, Role
from reviewqueue.errors import Forbidden, LeaseLost, NotFound
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import AppContext
from reviewqueue.serving.sessions import predict_positive

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


def _queue_models(ctx: AppContext) -> dict[str, str]:
    return {spec.queue: spec.name for spec in ctx.registry.models()}


def overview(ctx: AppContext, actor: Actor) -> list[QueueStats]:
    """Depth, claimed now and oldest age for each queue this actor may see (every declared queue, even empty)."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        rows = {r.queue: r for r in queries.queue_overview(conn, now)}
    visible = [q for q in _queue_models(ctx) if actor.role != Role.REVIEWER or actor.can_review(q)]
    out = []
    for queue in sorted(set(visible) | {q for q in rows if actor.role != Role.REVIEWER or actor.can_review(q)}):
        row = rows.get(queue)
        oldest = row.oldest if row else None
        out.append(QueueStats(queue, _queue_models(ctx).get(queue), row.pending if row else 0,
                              row.claimed if row else 0, oldest,
                              (now - oldest).total_seconds() if oldest else None))
    return out


def claim_next(ctx: AppContext, actor: Actor, queue: str) -> dict[str, Any] | None:
    """Lease the highest-priority pending item of ``queue`` to the actor; None when the queue is empty."""
    actor.require_queue(queue)
    token = secrets.token_hex(16)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        queries.release_expired_item_leases(conn, now)
        row = queries.claim_next_item(conn, [queue], actor.id, token, now, ctx.settings.lease_seconds)
    if row is None:
        return None
    log.info("item claimed", extra={"action": "item_claimed", "item_id": row.id, "actor": actor.name})
    return item_view(ctx, actor, row.id, lease_token=token)


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


def item_view(ctx: AppContext, actor: Actor, item_id: int, lease_token: str | None = None) -> dict[str, Any]:
    """Everything the triage page shows: the event, score, version, explanation, verdicts and the lease."""
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(items, predictions.c.external_id, predictions.c.model_name, predictions.c.score,
                   predictions.c.route, predictions.c.features, predictions.c.context,
                   predictions.c.created_at.label("scored_at"), versions.c.version, versions.c.id.label("vid"),
                   versions.c.artifact_path, versions.c.sha256, versions.c.input_schema)
            .join(predictions, predictions.c.id == items.c.prediction_id)
            .join(versions, versions.c.id == predictions.c.version_id)
            .where(items.c.id == item_id)
        ).first()
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
    }


def explain(ctx: AppContext, row: Any) -> list[dict[str, Any]]:
    """Leave-one-feature-out: the score change when each feature is set to its training median.

    Computed only for the item shown (F+1 rows in one ORT call), with the version that produced the score.
    """
    spec = ctx.registry.model(row.model_name)
    reference = (row.input_schema or {}).get("reference") or {}
    if not reference:
        return []
    session = ctx.sessions.get(row.vid, row.artifact_path, row.sha256)
    base = spec.features.encode([row.features])
    names = spec.features.names
    variants = np.repeat(base, len(names) + 1, axis=0)
    for j, name in enumerate(names):
        variants[j + 1, j] = reference.get(name, variants[j + 1, j])
    scores = predict_positive(session, variants)
    contributions = [
        {"feature": name, "value": row.features[name], "contribution": float(scores[0] - scores[j + 1])}
        for j, name in enumerate(names)
    ]
    return sorted(contributions, key=lambda c: abs(c["contribution"]), reverse=True)


def list_items(
    ctx: AppContext, actor: Actor, queue: str, status: str | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Keyset-paged item list; reads no payload columns."""
    actor.require_queue(queue) if actor.role == Role.REVIEWER else None
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
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query).all()]
