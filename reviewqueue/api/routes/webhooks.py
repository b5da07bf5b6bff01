from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from reviewqueue.api.deps import Ctx
from reviewqueue.schemas import InboundAck, WebhookAck
from reviewqueue.services import feedback, inbound

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/stripe", response_model=WebhookAck)
async def stripe_webhook(request: Request, ctx: Ctx) -> WebhookAck:
    """Stripe events (signed with the endpoint secret). Disputes become chargeback labels. Stored once by id."""
    body = await request.body()
    event = feedback.verify_stripe(ctx, body, request.headers.get("stripe-signature"))
    return await run_in_threadpool(feedback.record_stripe_event, ctx, event)


@router.post("/events/{model}", response_model=InboundAck)
async def events_webhook(model: str, request: Request, ctx: Ctx) -> InboundAck:
    """Events pushed by a business system, signed per Standard Webhooks with the inbound secret
    (webhook-id, webhook-timestamp within ±5 min, webhook-signature). Body: {"events": [...]}, as the
    predictions API. A webhook-id is processed once; a repeat answers 200 with duplicate=true."""
    body = await request.body()
    payload = inbound.verify(ctx, body, request.headers)
    return await run_in_threadpool(inbound.receive, ctx, model, request.headers["webhook-id"], payload)
