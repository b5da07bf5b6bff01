"""The API's outermost ASGI layer: a request-body limit enforced before anything reads or authenticates the
request, and security headers on every response.

The body limit answers 413 straight away when ``Content-Length`` declares too much, and, for chunked bodies,
counts the bytes as the application reads them: once past the limit it answers 413 itself and tells the
application the client went away, so no route ever holds more than ``max_body_bytes`` of one request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "security_headers"]

# /docs and /redoc are HTML pages loading Swagger UI / ReDoc from /docs-assets (api/docs.py, no CDN) with an
# inline start-up script: they get frame-ancestors only.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = "frame-ancestors 'none'"
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def security_headers(content_type: str) -> list[tuple[bytes, bytes]]:
    """Headers every response gets: no sniffing, no framing, no referrer; JSON also gets a CSP that allows
    nothing and ``Cache-Control: no-store`` (API answers carry reviewers' and customers' data)."""
    headers = list(COMMON_HEADERS)
    if "json" in content_type:
        headers += [(b"content-security-policy", JSON_CSP.encode()), (b"cache-control", b"no-store")]
    else:
        headers.append((b"content-security-policy", PAGE_CSP.encode()))
    return headers


def _with_security_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = list(raw)
    present = {name.lower() for name, _ in headers}
    content_type = next((v.decode("latin-1") for n, v in headers if n.lower() == b"content-type"), "")
    return headers + [(n, v) for n, v in security_headers(content_type) if n not in present]


class RequestGuard:
    """ASGI middleware: ``max_body_bytes`` per request body (413 naming the limit) and security headers."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        responded = False

        async def send_guarded(message: Message) -> None:
            nonlocal responded
            if responded:  # we already answered 413; the application's own answer goes nowhere
                return
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_security_headers(message.get("headers", []))}
            await send(message)

        async def refuse() -> None:
            nonlocal responded
            await send_guarded(_too_large_start(limit))
            await send_guarded({"type": "http.response.body", "body": _too_large_body(limit)})
            responded = True

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refuse()
            return

        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            if responded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await refuse()
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, receive_counted, send_guarded)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_body(limit: int) -> bytes:
    error: dict[str, Any] = {"type": "body_too_large", "field": "body",
                             "message": f"body: request bodies are limited to {limit} bytes "
                                        "(REVIEWQUEUE_MAX_BODY_BYTES)"}
    return json.dumps({"error": error}).encode()


def _too_large_start(limit: int) -> Message:
    length = str(len(_too_large_body(limit))).encode()
    return {"type": "http.response.start", "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", length),
                        (b"connection", b"close")]}
