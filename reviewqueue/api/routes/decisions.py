"""Decisions over HTTP: undo one within its window, reverse one after it (services.undo)."""

from __future__ import annotations

from fastapi import APIRouter

from reviewqueue.api.deps import Ctx, CurrentActor, DbId
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import DecisionChangeOut, ReverseRequest
from reviewqueue.services import undo

router = APIRouter(prefix="/v1", tags=["queues"])


@router.post("/decisions/{decision_id}/undo", response_model=DecisionChangeOut)
def undo_decision(decision_id: DbId, ctx: Ctx, actor: CurrentActor) -> DecisionChangeOut:
    """Within the undo window (you, or an admin): its actions are cancelled, the label withdrawn and the item put
    back in its queue. 409 "too late" once any action was taken by the worker: reverse it instead."""
    authorize(actor, Permission.DECISIONS_UNDO)  # and on the item's queue, once loaded
    return undo.undo(ctx, actor, decision_id)


@router.post("/decisions/{decision_id}/reverse", response_model=DecisionChangeOut)
def reverse_decision(decision_id: DbId, body: ReverseRequest, ctx: Ctx, actor: CurrentActor) -> DecisionChangeOut:
    """After the window (you, or an admin, with a reason): each delivered action's declared compensation fires
    (e.g. an unban, a Slack follow-up, a ``decision.reversed`` webhook); irreversible ones (a refund) are listed.
    The label is withdrawn and the item goes back to its queue for a new decision."""
    authorize(actor, Permission.DECISIONS_UNDO)  # and on the item's queue, once loaded
    return undo.reverse(ctx, actor, decision_id, body.reason)
