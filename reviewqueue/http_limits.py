"""uvicorn's h11 protocol with read deadlines: a slow client cannot hold a connection open indefinitely.

uvicorn bounds only the idle time *between* requests (``timeout_keep_alive``); a client that connects and sends
nothing, or trickles a request head one byte at a time, or trickles its body, keeps its connection (and its
memory) forever. Here a request's head must arrive within ``header_timeout`` seconds of the connection being
ready for it (opened, or the previous response sent), and its body within ``body_timeout`` seconds of the head;
otherwise the connection is closed (the application, if it is reading the body, sees a disconnect).

Kept outside ``reviewqueue.api`` so that uvicorn's spawned workers unpickle it without importing the app.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DeadlineH11Protocol"]

log = logging.getLogger("uvicorn.error")


class DeadlineH11Protocol(H11Protocol):
    """H11Protocol plus a head deadline and a body deadline per request."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("head", self.header_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _track(self) -> None:
        """Which part of a request we wait for now, from h11's view of the client's side of the connection."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._waiting_for != "head":
                self._arm("head", self.header_timeout)
        elif state is h11.SEND_BODY:
            if self._waiting_for != "body":
                self._arm("body", self.body_timeout)
        else:  # the whole request is in (or the connection is done): nothing more to wait for
            self._disarm()

    def _arm(self, part: str, seconds: float) -> None:
        self._disarm()
        self._waiting_for = part
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting_for = ""

    def _expired(self) -> None:
        part, self._deadline, self._waiting_for = self._waiting_for, None, ""
        if self.transport.is_closing():
            return
        log.warning("closing a connection whose request %s did not arrive in time", part,
                    extra={"action": "request_read_timeout", "part": part})
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
