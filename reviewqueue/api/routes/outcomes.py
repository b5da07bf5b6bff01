"""Outcomes over HTTP: what really happened to scored events, as delayed labels (API token or signed webhook)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from reviewqueue.api.deps import Ctx, CurrentActor
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import OutcomesRequest, OutcomesResponse
from reviewqueue.services import inbound, outcomes

router = APIRouter(tags=["outcomes"])


@router.post("/v1/models/{model}/outcomes", response_model=OutcomesResponse)
def record(model: str, body: OutcomesRequest, ctx: Ctx, actor: CurrentActor) -> OutcomesResponse:
    """Report outcomes (a chargeback, a follow-up finding) by external_id or correlation key. Each becomes a
    label that outranks reviewer verdicts; re-sending an event_id from the same source changes nothing."""
    authorize(actor, Permission.OUTCOMES_WRITE)
    return OutcomesResponse(model=model, outcomes=outcomes.record_outcomes(ctx, actor, model, body.outcomes))


@router.post("/v1/webhooks/outcomes/{model}", response_model=OutcomesResponse)
async def outcomes_webhook(model: str, request: Request, ctx: Ctx) -> OutcomesResponse:
    """The same body as a Standard Webhooks request signed with the inbound secret (webhook-id,
    webhook-timestamp within ±5 min, webhook-signature)."""
    payload = inbound.verify(ctx, await request.body(), request.headers)
    parsed = outcomes.parse_outcomes(payload)
    results = await run_in_threadpool(outcomes.record_outcomes, ctx, inbound.WEBHOOK_ACTOR, model, parsed)
    return OutcomesResponse(model=model, outcomes=results)
