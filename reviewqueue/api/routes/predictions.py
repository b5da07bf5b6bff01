"""Ingest over HTTP: a business system sends events, each is scored and routed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from reviewqueue.api.deps import Ctx, CurrentActor
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import PredictRequest, PredictResponse
from reviewqueue.services import ingest

router = APIRouter(prefix="/v1/models", tags=["predictions"])


@router.post("/{model}/predictions", response_model=PredictResponse)
def predict(model: str, body: PredictRequest, ctx: Ctx, actor: CurrentActor) -> Response:
    """Score one event or a batch; uncertain ones become review items. Idempotent on external_id."""
    authorize(actor, Permission.EVENTS_INGEST)
    events = [e.model_dump() for e in body.events]
    answer = PredictResponse(model=model, predictions=ingest.ingest(ctx, actor, model, events))
    # The service built the answer from validated values: serialised once here. Returned as a model, FastAPI
    # would dump it, validate the dump against response_model and serialise it again (the documented schema
    # is the same either way: response_model above).
    return Response(answer.model_dump_json(), media_type="application/json")
