"""FastAPI app factory. Routes are thin: authorize → one service call → present."""

from __future__ import annotations

from fastapi import FastAPI

from reviewqueue.api.docs import install_docs
from reviewqueue.api.errors import install_error_handlers
from reviewqueue.api.guard import RequestGuard
from reviewqueue.api.routes import actions, auth, decisions, items, models, outcomes, predictions, system, webhooks
from reviewqueue.api.routes import metrics as metrics_route
from reviewqueue.api.routes import monitor as monitor_route
from reviewqueue.api.routes import operations as operations_route
from reviewqueue.api.routes import triage as triage_route
from reviewqueue.api.timing import RequestTimer
from reviewqueue.schemas import ErrorResponse
from reviewqueue.services.context import AppContext

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 503)
}


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="reviewqueue",
        version="0.1.0",
        description="Score events, route uncertain ones to human review queues, act on decisions, learn.",
        responses=ERROR_RESPONSES,
        docs_url=None,  # served from local files by install_docs: no CDN
        redoc_url=None,
    )
    # Matched first: the hot path (a prediction per business event) is not compared with every other route's
    # pattern before its own (no other route's path can be /v1/models/{model}/predictions).
    app.include_router(predictions.router)
    install_docs(app)
    app.state.ctx = ctx
    install_error_handlers(app)
    # outermost of our layers: body limit before any route, dependency or authentication sees the request
    app.add_middleware(RequestGuard, max_body_bytes=ctx.settings.max_body_bytes)
    app.add_middleware(RequestTimer)  # around the guard: its refusals are timed too
    for module in (system, auth, outcomes, models, items, decisions, actions, webhooks, metrics_route,
                   triage_route):
        app.include_router(module.router)
    app.include_router(operations_route.router)  # routing-policy versions, what-if, reviewers, queue health
    app.include_router(monitor_route.router)  # drift, calibration
    return app
