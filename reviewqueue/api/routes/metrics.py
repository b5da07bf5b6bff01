"""GET /metrics: Prometheus exposition (text, not JSON: left out of the OpenAPI schema).

Off unless ``metrics_token`` is set; then only ``Authorization: Bearer <metrics_token>`` may scrape. Request
latency, claims, decisions and predictions are this process's counters (all API processes' in multiprocess
mode, see reviewqueue/metrics.py); the outbox gauges are read from the database at scrape time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials

from reviewqueue import metrics
from reviewqueue.api.deps import Ctx, bearer
from reviewqueue.errors import NotEnabled, Unauthorized
from reviewqueue.services import outbox

router = APIRouter(tags=["system"])


@router.get("/metrics", include_in_schema=False)
def scrape(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Response:
    token = ctx.settings.metrics_token
    if token is None:
        raise NotEnabled("metrics are off: set REVIEWQUEUE_METRICS_TOKEN to serve them")
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise Unauthorized("GET /metrics needs Authorization: Bearer <metrics_token>")
    body = metrics.render(metrics.OutboxCollector(lambda: outbox.counts(ctx)))
    return Response(content=body, media_type=metrics.CONTENT_TYPE)
