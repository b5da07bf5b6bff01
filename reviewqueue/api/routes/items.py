"""Queues and items over HTTP: overview, claim next, list, show, renew, release, escalate, decide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from reviewqueue.api.deps import Ctx, CurrentActor, DbId, OptionalDbIdQuery
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.domain.states import ItemStatus
from reviewqueue.schemas import (
    DecisionOut,
    DecisionRequest,
    EscalationOut,
    EscalationRequest,
    ItemOut,
    ItemSummary,
    LeaseOut,
    LeaseRequest,
    QueueOut,
    ReleaseOut,
)
from reviewqueue.services import decisions, queue

router = APIRouter(prefix="/v1", tags=["queues"])


@router.get("/queues", response_model=list[QueueOut])
def list_queues(ctx: Ctx, actor: CurrentActor) -> list[QueueOut]:
    """Depth, claimed now and oldest pending age of each queue you may see."""
    authorize(actor, Permission.QUEUES_READ)
    return queue.overview(ctx, actor)


@router.post("/queues/{queue_name}/claim", response_model=ItemOut, responses={204: {"description": "Queue empty"}})
def claim(queue_name: str, ctx: Ctx, actor: CurrentActor) -> ItemOut | Response:
    """Lease the highest-priority pending item to you (lease_seconds, renewable). 204 when the queue is empty."""
    authorize(actor, Permission.ITEMS_REVIEW, queue_name)
    item = queue.claim_next(ctx, actor, queue_name)
    return Response(status_code=204) if item is None else item


@router.get("/queues/{queue_name}/items", response_model=list[ItemSummary])
def list_items(
    queue_name: str, ctx: Ctx, actor: CurrentActor,
    status: Annotated[ItemStatus | None, Query()] = None,
    before_id: OptionalDbIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ItemSummary]:
    """A queue's items, newest first; ``before_id`` pages on (items with a smaller id)."""
    authorize(actor, Permission.ITEMS_READ, queue_name)
    return queue.list_items(ctx, actor, queue_name, status.value if status else None, before_id, limit)


@router.get("/items", response_model=list[ItemSummary])
def list_items_by_status(
    ctx: Ctx, actor: CurrentActor,
    status: Annotated[ItemStatus, Query()] = ItemStatus.QUARANTINED,
    before_id: OptionalDbIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ItemSummary]:
    """Every queue's items with this status, newest first (admins): by default those quarantined because
    they cannot be shown."""
    authorize(actor, Permission.ITEMS_QUARANTINE)
    return queue.list_by_status(ctx, actor, status.value, before_id, limit)


@router.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: DbId, ctx: Ctx, actor: CurrentActor) -> ItemOut:
    authorize(actor, Permission.ITEMS_READ)  # and on the item's queue, once loaded
    return queue.item_view(ctx, actor, item_id)


@router.post("/items/{item_id}/renew", response_model=LeaseOut)
def renew(item_id: DbId, body: LeaseRequest, ctx: Ctx, actor: CurrentActor) -> LeaseOut:
    """Extend your lease; 409 if it expired or moved."""
    authorize(actor, Permission.ITEMS_REVIEW)
    return queue.renew(ctx, actor, item_id, body.lease_token)


@router.post("/items/{item_id}/release", response_model=ReleaseOut)
def release(item_id: DbId, body: LeaseRequest, ctx: Ctx, actor: CurrentActor) -> ReleaseOut:
    """Give the item you hold back to its queue undecided; your next claims skip it for a while (others may
    claim it at once). 409 if you do not hold it."""
    authorize(actor, Permission.ITEMS_REVIEW)  # and on the item's queue, once loaded
    return queue.release(ctx, actor, item_id, body.lease_token)


@router.post("/items/{item_id}/escalate", response_model=EscalationOut)
def escalate(item_id: DbId, body: EscalationRequest, ctx: Ctx, actor: CurrentActor) -> EscalationOut:
    """Move the item you hold to its model's escalation queue with a note (required), for a senior reviewer.
    409 if you do not hold it."""
    authorize(actor, Permission.ITEMS_REVIEW)  # and on the item's queue, once loaded
    return queue.escalate(ctx, actor, item_id, body.lease_token, body.note)


@router.post("/items/{item_id}/decision", response_model=DecisionOut)
def decide(item_id: DbId, body: DecisionRequest, ctx: Ctx, actor: CurrentActor) -> DecisionOut:
    """Decide from your live lease: label, decision and the verdict's actions in one commit."""
    authorize(actor, Permission.ITEMS_REVIEW)  # and on the item's queue, once loaded
    return decisions.decide(ctx, actor, item_id, body.verdict, body.lease_token, body.note)
