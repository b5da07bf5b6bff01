from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from reviewqueue.api.deps import Ctx
from reviewqueue.schemas import WebhookAck
from reviewqueue.services import feedback

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/stripe", response_model=WebhookAck)
async def stripe_webhook(request: Request, ctx: Ctx) -> WebhookAck:
    """Stripe events (signed with the endpoint secret). Disputes become chargeback labels. Stored once by id."""
    body = await request.body()
    event = feedback.verify_stripe(ctx, body, request.headers.get("stripe-signature"))
    return WebhookAck(**await run_in_threadpool(feedback.record_stripe_event, ctx, event))
