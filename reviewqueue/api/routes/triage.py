"""What triage reads besides the item, over HTTP: a named item claimed or opened (deep links), the subject's
history, and your own recent decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reviewqueue.api.deps import Ctx, CurrentActor, DbId, OptionalDbIdQuery
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import ItemOut, MyDecisionOut, OpenedItem, SubjectHistory
from reviewqueue.services import deep_link, history, queue

router = APIRouter(prefix="/v1", tags=["triage"])


@router.post("/items/{item_id}/claim", response_model=ItemOut)
def claim_item(item_id: DbId, ctx: Ctx, actor: CurrentActor) -> ItemOut:
    """Lease this item to you, as claim-next would (holds, four-eyes, leases). 404 unknown or not on your
    queues; 409 when it is not pending for you (the message says why)."""
    authorize(actor, Permission.ITEMS_REVIEW)  # and on the item's queue, once loaded
    return queue.claim_item(ctx, actor, item_id)


@router.post("/items/{item_id}/open", response_model=OpenedItem)
def open_item(item_id: DbId, ctx: Ctx, actor: CurrentActor) -> OpenedItem:
    """A deep link: the item claimed for you when you may review it and it is pending, else read-only with
    why and its decision. 404 unknown or not on your queues."""
    authorize(actor, Permission.ITEMS_READ)  # and on the item's queue, once loaded
    return deep_link.open_item(ctx, actor, item_id)


@router.get("/items/{item_id}/history", response_model=SubjectHistory)
def subject_history(item_id: DbId, ctx: Ctx, actor: CurrentActor,
                    limit: Annotated[int, Query(ge=1, le=100)] = history.HISTORY_LIMIT) -> SubjectHistory:
    """The same subject's other predictions (the model's history key), newest first, with their decisions."""
    authorize(actor, Permission.ITEMS_READ)  # and on the item's queue, once loaded
    return history.subject_history(ctx, actor, item_id, limit)


@router.get("/me/decisions", response_model=list[MyDecisionOut])
def my_decisions(
    ctx: Ctx, actor: CurrentActor,
    external_id: Annotated[str | None, Query(max_length=200, description="external ids starting with this")] = None,
    before_id: OptionalDbIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
) -> list[MyDecisionOut]:
    """Your decisions, newest first; ``before_id`` pages on (decisions with a smaller id)."""
    authorize(actor, Permission.ITEMS_REVIEW)
    return history.my_decisions(ctx, actor, external_id, before_id, limit)
