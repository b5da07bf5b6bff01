"""Request latency for Prometheus (``reviewqueue_http_request_duration_seconds``): a plain ASGI layer that times
each HTTP request and labels it with the matched route's path template (``/v1/items/{item_id}``, never the raw
path, so ids add no series), the method and the status class (``2xx`` … ``5xx``). A request no route matched
(a 404, or one the guard refused before routing) is labelled ``unmatched``."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reviewqueue.metrics import REQUEST_SECONDS

UNMATCHED = "unmatched"


class RequestTimer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # the application raised before it answered

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router on the scope it shares with us
            template = getattr(route, "path", None) or UNMATCHED
            REQUEST_SECONDS.labels(template, scope["method"], f"{status // 100}xx").observe(
                time.perf_counter() - started)
