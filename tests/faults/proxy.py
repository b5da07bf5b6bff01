"""A scriptable HTTP/1.1 fault proxy on 127.0.0.1, in front of a real peer (localstripe, the sink).

Each request that matches a rule takes that rule's next fault; a request no rule claims is forwarded.
Faults:

- ``Fault.status(500)`` / ``Fault.status(429, retry_after=1)``: answer without forwarding;
- ``Fault.hang()``: read the request and never answer (the client's timeout fires);
- ``Fault.drop_after_forward()``: forward, let the peer commit and answer, then cut the client's connection
  instead of returning the response (the outcome is unknown to the client);
- ``Fault.delay(s)``: wait ``s`` seconds, then forward (a slow but healthy provider).

Every request is recorded (``proxy.requests``) with the fault it got and its arrival time, so a test can
count attempts and check the spacing of retries. Upstream requests carry ``Connection: close`` and so do
the answers, so one client connection carries one request: simple, and enough for these clients.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "Seen"]


@dataclass(frozen=True)
class Fault:
    kind: str  # status | hang | drop | delay
    status_code: int = 0
    retry_after: float | None = None
    seconds: float = 0.0

    @classmethod
    def status(cls, code: int, retry_after: float | None = None) -> Fault:
        return cls("status", status_code=code, retry_after=retry_after)

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def drop_after_forward(cls) -> Fault:
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds=seconds)

    def label(self) -> str:
        if self.kind == "status":
            return f"{self.status_code}" + ("+retry-after" if self.retry_after is not None else "")
        return self.kind


@dataclass
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()
    fault: str = "forward"
    upstream_status: int | None = None


@dataclass
class _Rule:
    when: Callable[[Seen], bool]
    faults: deque[Fault]
    forever: Fault | None = None


@dataclass
class FaultProxy:
    upstream: str
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._up_host, self._up_port = parts.hostname or "127.0.0.1", parts.port or 80
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    # -- script ------------------------------------------------------------------------------------------

    def script(self, *faults: Fault, when: Callable[[Seen], bool] = lambda r: True) -> None:
        """The next matching requests get ``faults``, one each, in order."""
        with self._lock:
            self._rules.append(_Rule(when, deque(faults)))

    def always(self, fault: Fault, when: Callable[[Seen], bool] = lambda r: True) -> None:
        """Every matching request gets ``fault`` (after any scripted faults are used up)."""
        with self._lock:
            self._rules.append(_Rule(when, deque(), forever=fault))

    def seen(self, when: Callable[[Seen], bool] = lambda r: True) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if when(r)]

    def _take(self, request: Seen) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            for rule in self._rules:
                if rule.faults and rule.when(request):
                    return rule.faults.popleft()
            for rule in self._rules:
                if rule.forever is not None and rule.when(request):
                    return rule.forever
            return None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
                port = self._server.sockets[0].getsockname()[1]
                self.url = f"http://127.0.0.1:{port}"
            except BaseException as exc:  # surfaced to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        if thread.is_alive():
            raise RuntimeError("the fault proxy did not stop within 10 s")
        self._loop = self._thread = None

    # -- the proxy -----------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve_one(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        request = Seen(method, path, headers, body, time.monotonic())
        fault = self._take(request)
        request.fault = fault.label() if fault else "forward"
        if fault is not None and fault.kind == "status":
            writer.write(_status_response(fault))
            await writer.drain()
            return
        if fault is not None and fault.kind == "hang":
            await reader.read()  # until the client gives up and closes
            return
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        response = await self._forward(lines, headers, body)
        request.upstream_status = _status_of(response)
        if fault is not None and fault.kind == "drop":
            writer.transport.abort()  # the peer committed; the client never hears about it
            return
        writer.write(response)
        await writer.drain()

    async def _forward(self, lines: list[str], headers: dict[str, str], body: bytes) -> bytes:
        up_reader, up_writer = await asyncio.open_connection(self._up_host, self._up_port)
        try:
            kept = [line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() != "connection"]
            out = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
            up_writer.write(out + body)
            await up_writer.drain()
            raw = await up_reader.read()
        finally:
            up_writer.close()
        head, sep, rest = raw.partition(b"\r\n\r\n")
        kept_head = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"connection:")]
        return b"\r\n".join([*kept_head, b"Connection: close"]) + sep + rest


def _status_of(response: bytes) -> int | None:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def _status_response(fault: Fault) -> bytes:
    body = b'{"error": {"type": "api_error", "message": "injected by the fault proxy"}}'
    reason = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(
        fault.status_code, "Injected")
    headers = [f"HTTP/1.1 {fault.status_code} {reason}", "Content-Type: application/json",
               f"Content-Length: {len(body)}", "Connection: close"]
    if fault.retry_after is not None:
        headers.append(f"Retry-After: {fault.retry_after:g}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body
