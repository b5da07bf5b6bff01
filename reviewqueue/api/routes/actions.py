"""The outbox over HTTP: actions (newest first), counts, dead letters, replay of one or of a filtered set."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from reviewqueue.api.deps import Ctx, CurrentActor, OptionalDbIdQuery
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.domain.states import ActionStatus
from reviewqueue.errors import ValidationFailed
from reviewqueue.schemas import ActionCounts, ActionOut, ReplayOut, ReplayRequest
from reviewqueue.services import outbox

router = APIRouter(prefix="/v1/actions", tags=["actions"])


@router.get("", response_model=list[ActionOut])
def list_actions(
    ctx: Ctx, actor: CurrentActor,
    status: Annotated[ActionStatus | None, Query()] = None,
    decision_id: OptionalDbIdQuery = None,
    connector: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
    error: Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="a substring of the last error")] = None,
    before_created_at: Annotated[datetime | None, Query(
        description="keyset: with before_id, the created_at of the previous page's last action")] = None,
    before_id: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$",
                                           description="keyset: the previous page's last action id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ActionOut]:
    """Outbox actions, newest first, e.g. ?status=dead for the dead letters; the next page: pass the last
    action's created_at and id as before_created_at and before_id."""
    authorize(actor, Permission.ACTIONS_READ)
    if (before_created_at is None) != (before_id is None):
        missing = "before_id" if before_id is None else "before_created_at"
        raise ValidationFailed(f"{missing}: give both before_created_at and before_id, or neither", field=missing)
    before = (before_created_at, before_id) if before_created_at is not None and before_id is not None else None
    return outbox.list_actions(ctx, actor, status.value if status else None, decision_id, before, limit,
                               connector=connector, model=model, error=error)


@router.get("/counts", response_model=ActionCounts)
def action_counts(ctx: Ctx, actor: CurrentActor) -> ActionCounts:
    """Actions per status (a reviewer's: of decisions on the queues they review)."""
    authorize(actor, Permission.ACTIONS_READ)
    return outbox.counts(ctx, actor)


@router.post("/replay", response_model=ReplayOut)
def replay_matching(body: ReplayRequest, ctx: Ctx, actor: CurrentActor) -> ReplayOut:
    """Admin: send again every dead action matching the filter (dry_run: only count them; expected: the count
    you confirmed, 409 if another number matches now). Recorded in the audit log with the filter and count."""
    authorize(actor, Permission.ACTIONS_REPLAY)
    return outbox.replay_matching(ctx, actor, body.connector, body.model, body.error, dry_run=body.dry_run,
                                  expected=body.expected)


@router.get("/{action_id}", response_model=ActionOut)
def get_action(action_id: str, ctx: Ctx, actor: CurrentActor) -> ActionOut:
    authorize(actor, Permission.ACTIONS_READ)
    return outbox.get_action(ctx, actor, action_id)


@router.post("/{action_id}/replay", response_model=ActionOut)
def replay(action_id: str, ctx: Ctx, actor: CurrentActor) -> ActionOut:
    """Admin: send a dead action again (same action id, so the effect still happens once)."""
    authorize(actor, Permission.ACTIONS_REPLAY)
    return outbox.replay(ctx, actor, action_id)
