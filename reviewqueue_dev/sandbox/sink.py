"""A loopback stand-in for Slack's Web API and for webhook receivers, for tests and the demo.

It speaks just enough of Slack for slack_sdk's ``chat.postMessage``, ``conversations.list`` and
``conversations.history`` (the look-up a connector does before posting again when an earlier attempt's
outcome is unknown) and receives Standard Webhooks at ``POST /webhooks/{name}``, verifying each signature the
way a careful receiver would (bad → 400, a ``webhook-id`` seen before → 200 without recording it again).
Faults can be scripted per endpoint (every Slack method shares the ``slack`` one, as an outage would).

What it received is readable in-process (``sink.slack_messages``, ``sink.webhooks``) and over HTTP
(``GET /sandbox/messages``) for subprocess tests and the demo UI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks import Webhook

from reviewqueue_dev.sandbox._wait import wait_until

__all__ = ["DEFAULT_SLACK_TOKEN", "DEFAULT_WEBHOOK_SECRET", "Endpoint", "Sink"]

DEFAULT_SLACK_TOKEN = "xoxb-reviewqueue-sandbox"
DEFAULT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"reviewqueue-sandbox-webhook-key!").decode()

Endpoint = Literal["slack", "webhook"]
_ENDPOINTS: tuple[Endpoint, ...] = ("slack", "webhook")


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None = None


class Sink:
    """Serve the fake Slack and webhook receiver on ``host:port`` (port 0 picks a free one) in a thread."""

    def __init__(
        self,
        *,
        slack_token: str = DEFAULT_SLACK_TOKEN,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self.slack_token = slack_token
        self.webhook_secret = webhook_secret
        self.slack_channels: set[str] | None = None
        """When set, posting to any other channel answers ``channel_not_found``."""
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._changed = threading.Condition()  # guards everything below and wakes wait_for()
        self._slack: list[dict[str, Any]] = []
        self._webhooks: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []
        self._seen_ids: set[str] = set()
        self._faults: dict[Endpoint, deque[_Fault]] = {endpoint: deque() for endpoint in _ENDPOINTS}
        self._ts = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Sink:
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, self._port))
        self._socket = sock
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sink", daemon=True
        )
        self._thread.start()
        thread = self._thread
        try:
            wait_until(
                lambda: server.started or not thread.is_alive(),
                timeout=self._startup_timeout,
                what="the sink",
            )
            if not server.started:
                raise RuntimeError("the sink's server thread exited during startup")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive():
                raise RuntimeError("the sink did not shut down within 10 s")
        if sock is not None:
            sock.close()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def slack_base_url(self) -> str:
        """What ``Settings.slack_base_url`` should be (slack_sdk appends the method name)."""
        return f"{self.url}/api/"

    def webhook_url(self, name: str = "default") -> str:
        return f"{self.url}/webhooks/{name}"

    def settings_fields(self, webhook_name: str = "default") -> dict[str, str]:
        """Keyword arguments for ``Settings(...)`` that point the Slack and webhook connectors here."""
        return {
            "slack_token": self.slack_token,
            "slack_base_url": self.slack_base_url,
            "webhook_url": self.webhook_url(webhook_name),
            "webhook_secret": self.webhook_secret,
        }

    # -- what it received --------------------------------------------------------------------------------

    @property
    def slack_messages(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._slack)

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """Verified, first-time deliveries."""
        with self._changed:
            return list(self._webhooks)

    @property
    def webhook_attempts(self) -> list[dict[str, Any]]:
        """Every webhook request, faulted, rejected and duplicate ones included, with the status answered."""
        with self._changed:
            return list(self._attempts)

    def wait_for(self, condition: Callable[[Sink], bool], timeout: float = 10.0) -> None:
        """Block until ``condition(self)`` holds (re-checked on every request the sink records)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the sink did not reach the expected state within {timeout:g}s")
                self._changed.wait(remaining)

    def reset(self) -> None:
        """Forget messages, deliveries, seen webhook ids, scripted faults and the channel list."""
        with self._changed:
            self._slack.clear()
            self._webhooks.clear()
            self._attempts.clear()
            self._seen_ids.clear()
            for queue in self._faults.values():
                queue.clear()
            self.slack_channels = None
            self._changed.notify_all()

    # -- fault knobs ---------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, endpoint: Endpoint | None = None) -> None:
        """Answer the next ``n`` requests of ``endpoint`` (each of both when None) with HTTP ``status``."""
        self._script(n, _Fault(status), endpoint)

    def rate_limit_next(
        self, n: int = 1, retry_after: float = 1, *, endpoint: Endpoint | None = None
    ) -> None:
        """Answer the next ``n`` requests of ``endpoint`` (each of both when None) with 429 + Retry-After."""
        self._script(n, _Fault(429, retry_after), endpoint)

    def _script(self, n: int, fault: _Fault, endpoint: Endpoint | None) -> None:
        with self._changed:
            for name in _ENDPOINTS if endpoint is None else (endpoint,):
                self._faults[name].extend([fault] * n)

    def _next_fault(self, endpoint: Endpoint) -> _Fault | None:
        with self._changed:
            queue = self._faults[endpoint]
            return queue.popleft() if queue else None

    def _record(self, into: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        with self._changed:
            into.append(entry)
            self._changed.notify_all()

    # -- the app -------------------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="reviewqueue sandbox sink", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/api/chat.postMessage")
        async def post_message(request: Request) -> JSONResponse:
            return await self._post_message(request)

        @app.api_route("/api/conversations.list", methods=["GET", "POST"])
        async def conversations_list(request: Request) -> JSONResponse:
            return await self._slack_call(request, self._conversations_list)

        @app.api_route("/api/conversations.history", methods=["GET", "POST"])
        async def conversations_history(request: Request) -> JSONResponse:
            return await self._slack_call(request, self._conversations_history)

        @app.api_route("/api/{method}", methods=["GET", "POST"])
        async def unknown_method(method: str) -> JSONResponse:
            return JSONResponse({"ok": False, "error": "unknown_method"})

        @app.post("/webhooks/{name}")
        async def receive_webhook(name: str, request: Request) -> JSONResponse:
            return await self._receive_webhook(name, request)

        @app.get("/sandbox/messages")
        async def messages() -> dict[str, Any]:
            return {"slack": self.slack_messages, "webhooks": self.webhooks}

        @app.delete("/sandbox/messages")
        async def forget() -> dict[str, bool]:
            self.reset()
            return {"ok": True}

        return app

    async def _post_message(self, request: Request) -> JSONResponse:
        return await self._slack_call(request, self._chat_post_message)

    async def _slack_call(
        self, request: Request, method: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> JSONResponse:
        """What every Web API method does first: scripted faults, then the arguments, then the token."""
        fault = self._next_fault("slack")
        if fault is not None:
            error = "ratelimited" if fault.status == 429 else "internal_error"
            return _fault_response(fault, {"ok": False, "error": error})
        args = await _slack_args(request)
        if args is None:
            return JSONResponse({"ok": False, "error": "invalid_json"})
        # Slack accepts the token as a bearer header or as an argument
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or args.get("token")
        if not token:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if token != self.slack_token:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        try:
            return JSONResponse(method(args))
        except ValueError:  # a malformed ts, limit or cursor
            return JSONResponse({"ok": False, "error": "invalid_arguments"})

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        # like Slack: a channel name (with or without '#') or a channel id
        name = self._channel_name(channel) if isinstance(channel, str) and channel else None
        if name is None:
            return {"ok": False, "error": "channel_not_found"}
        text = body.get("text")
        if not text and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        with self._changed:
            self._ts += 1
            ts = f"{int(time.time())}.{self._ts:06d}"
        message = {"type": "message", "text": text, "ts": ts, "metadata": body.get("metadata")}
        self._record(self._slack, {"channel": channel, "channel_id": _channel_id(name), **message,
                                   "received_at": _now()})
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every channel the sink knows (``slack_channels`` and those posted to), by name, cursor-paged."""
        channels = [{"id": _channel_id(name), "name": name, "is_channel": True, "is_private": False,
                     "is_archived": False, "is_member": True} for name in sorted(self._known_channels())]
        page, next_cursor = _page(channels, args, default_limit=100, max_limit=1000)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """A channel's messages, newest first, by channel id only (as Slack: a name is channel_not_found);
        ``metadata`` only with ``include_all_metadata``; ``oldest``/``latest``/``inclusive``, cursor-paged."""
        channel = args.get("channel")
        names = {_channel_id(name): name for name in self._known_channels()}
        if not isinstance(channel, str) or channel not in names:
            return {"ok": False, "error": "channel_not_found"}
        in_window = _ts_window(args)
        messages = [_history_entry(m, _flag(args.get("include_all_metadata")))
                    for m in reversed(self.slack_messages)
                    if m["channel_id"] == channel and in_window(float(m["ts"]))]
        page, next_cursor = _page(messages, args, default_limit=100, max_limit=999)
        return {"ok": True, "messages": page, "has_more": bool(next_cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": next_cursor}}

    def _known_channels(self) -> set[str]:
        with self._changed:
            posted = {_strip(m["channel"]) for m in self._slack if not _looks_like_id(m["channel"])}
            allowed = {_strip(c) for c in self.slack_channels or ()}
        return posted | allowed

    def _channel_name(self, channel: str) -> str | None:
        """The channel a postMessage argument names, or None when it is not one that can be posted to."""
        if _looks_like_id(channel):
            return {_channel_id(n): n for n in self._known_channels()}.get(channel)
        name = _strip(channel)
        allowed = self.slack_channels
        if allowed is not None and name not in {_strip(c) for c in allowed}:
            return None
        return name

    async def _receive_webhook(self, name: str, request: Request) -> JSONResponse:
        webhook_id = request.headers.get("webhook-id")
        attempt = {"name": name, "webhook_id": webhook_id}
        fault = self._next_fault("webhook")
        if fault is not None:
            self._record(self._attempts, {**attempt, "status": fault.status})
            return _fault_response(fault, {"error": "injected fault"})
        body = await request.body()
        try:
            payload = Webhook(self.webhook_secret).verify(body, dict(request.headers))
        # verify() raises more than WebhookVerificationError on junk (ValueError on a malformed signature
        # header, binascii.Error, UnicodeDecodeError, JSONDecodeError): each one is the sender's fault → 400
        except Exception as exc:
            self._record(self._attempts, {**attempt, "status": 400})
            return JSONResponse({"error": f"signature rejected: {type(exc).__name__}"}, status_code=400)
        assert webhook_id is not None  # verify() refuses a request without one
        with self._changed:
            duplicate = webhook_id in self._seen_ids
            if not duplicate:
                self._seen_ids.add(webhook_id)
                self._webhooks.append(
                    {
                        "name": name,
                        "webhook_id": webhook_id,
                        "timestamp": request.headers.get("webhook-timestamp"),
                        "payload": payload,
                        "received_at": _now(),
                    }
                )
            self._attempts.append({**attempt, "status": 200, "duplicate": duplicate})
            self._changed.notify_all()
        return JSONResponse({"ok": True, "duplicate": duplicate})


async def _slack_args(request: Request) -> dict[str, Any] | None:
    """A Web API call's arguments: the query string (GET), then a JSON or form body; None when JSON is bad."""
    args: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return args
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        return {**args, **body}
    return {**args, **dict(await request.form())}


def _strip(channel: str) -> str:
    return channel.removeprefix("#")


def _looks_like_id(channel: str) -> bool:
    """Slack channel ids are upper-case (C…, G…, D…); channel names are lower-case."""
    return len(channel) >= 9 and channel[0] in "CGD" and channel.isalnum() and channel.isupper()


def _channel_id(name: str) -> str:
    """A stable, Slack-shaped id for a channel name."""
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()


def _flag(value: Any) -> bool:
    """Slack's boolean arguments: true/1 (slack_sdk sends 1/0 in query strings)."""
    return value is True or str(value).lower() in {"1", "true"}


def _ts_window(args: dict[str, Any]) -> Callable[[float], bool]:
    oldest = float(args.get("oldest") or 0)
    latest = float(args.get("latest") or math.inf)
    if _flag(args.get("inclusive")):
        return lambda ts: oldest <= ts <= latest
    return lambda ts: oldest < ts < latest


def _history_entry(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    entry = {"type": "message", "text": message["text"], "ts": message["ts"], "bot_id": "BSANDBOX"}
    metadata = message.get("metadata")
    if isinstance(metadata, str):  # posted form-encoded: Slack keeps the parsed object
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    if with_metadata and metadata:
        entry["metadata"] = metadata
    return entry


def _page(entries: list[dict[str, Any]], args: dict[str, Any], *, default_limit: int,
          max_limit: int) -> tuple[list[dict[str, Any]], str]:
    """One page of ``entries`` and the cursor of the next ("" at the end), as Slack's cursor pagination."""
    cursor = str(args.get("cursor") or "")
    start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
    limit = max(1, min(int(args.get("limit") or default_limit), max_limit))
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(entries) else ""
    return entries[start:end], next_cursor


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fault_response(fault: _Fault, body: dict[str, Any]) -> JSONResponse:
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    return JSONResponse(body, status_code=fault.status, headers=headers)
