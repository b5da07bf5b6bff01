"""The outbox over HTTP: actions, counts, dead letters, replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reviewqueue.api.deps import Ctx, CurrentActor, OptionalDbIdQuery
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.domain.states import ActionStatus
from reviewqueue.schemas import ActionCounts, ActionOut
from reviewqueue.services import outbox

router = APIRouter(prefix="/v1/actions", tags=["actions"])


@router.get("", response_model=list[ActionOut])
def list_actions(
    ctx: Ctx, actor: CurrentActor,
    status: Annotated[ActionStatus | None, Query()] = None,
    decision_id: OptionalDbIdQuery = None,
    after: Annotated[str | None, Query(max_length=32, description="keyset: actions with id above this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ActionOut]:
    """Outbox actions, e.g. ?status=dead for the dead letters."""
    authorize(actor, Permission.ACTIONS_READ)
    return outbox.list_actions(ctx, actor, status.value if status else None, decision_id, after, limit)


@router.get("/counts", response_model=ActionCounts)
def action_counts(ctx: Ctx, actor: CurrentActor) -> ActionCounts:
    """Actions per status (a reviewer's: of decisions on the queues they review)."""
    authorize(actor, Permission.ACTIONS_READ)
    return outbox.counts(ctx, actor)


@router.get("/{action_id}", response_model=ActionOut)
def get_action(action_id: str, ctx: Ctx, actor: CurrentActor) -> ActionOut:
    authorize(actor, Permission.ACTIONS_READ)
    return outbox.get_action(ctx, actor, action_id)


@router.post("/{action_id}/replay", response_model=ActionOut)
def replay(action_id: str, ctx: Ctx, actor: CurrentActor) -> ActionOut:
    """Admin: send a dead action again (same action id, so the effect still happens once)."""
    authorize(actor, Permission.ACTIONS_REPLAY)
    return outbox.replay(ctx, actor, action_id)
