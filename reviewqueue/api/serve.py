"""Serve the API in N worker processes without uvicorn 0.54's multi-worker Nagle stall.

``uvicorn.run(..., workers=N)`` binds its shared listening socket with ``socket.socket(family=…)``, so the
socket's ``proto`` is 0. Accepted connections inherit that proto (``socket.accept`` copies it), and asyncio's
``base_events._set_nodelay`` only sets TCP_NODELAY when ``proto == IPPROTO_TCP``: every connection keeps Nagle's
algorithm on. h11 writes a response's head and body as two segments, so the body waits for the client's delayed
ACK (~40 ms per response; BENCHMARKS.md §2 measured /healthz at 315 instead of 1,735 req/s with two workers).

The fix is only the socket: we bind it ourselves with ``IPPROTO_TCP`` and hand it to uvicorn's own supervisor
(``uvicorn.supervisors.Multiprocess``), which we keep for everything else — spawned workers, SIGINT/SIGTERM
forwarded as a graceful SIGTERM to each worker and joined before the parent exits, a worker that dies or stops
answering its health-check ping replaced (logged as "Child process [pid] died"), SIGHUP rolling restart,
SIGTTIN/SIGTTOU to grow or shrink. The socket reaches the spawned workers through multiprocessing's socket
pickling, which rebuilds it with the same family, type and proto, so the workers' accepted connections get
TCP_NODELAY.

One worker runs in-process with plain ``uvicorn.run``: there uvicorn lets asyncio create the socket from
``getaddrinfo`` results, which carry ``IPPROTO_TCP``, so it never had the stall.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from reviewqueue.http_limits import DeadlineH11Protocol
from reviewqueue.settings import Settings

APP = "reviewqueue.api.main:app"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # as reviewqueue.metrics; not imported: it loads the client

logger = logging.getLogger("uvicorn.error")  # where uvicorn itself reports binding and supervisor events


def bind_tcp_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket whose ``proto`` is IPPROTO_TCP, so asyncio sets TCP_NODELAY on
    every connection it accepts. Otherwise as uvicorn's ``Config.bind_socket``: IPv6 when the host has a colon,
    SO_REUSEADDR (restart without waiting out TIME_WAIT), inheritable; each worker calls listen() itself when
    its event loop starts serving the socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def deadline_protocol(settings: Settings) -> Any:
    """uvicorn's h11 protocol with the head/body read deadlines of ``settings`` (reviewqueue/http_limits.py)."""
    return functools.partial(DeadlineH11Protocol, header_timeout=settings.header_timeout_seconds,
                             body_timeout=settings.body_timeout_seconds)


def multiprocess_metrics_dir() -> str | None:
    """Before spawning N workers: unless ``PROMETHEUS_MULTIPROC_DIR`` is set already, point it at a fresh
    folder, so each worker's prometheus-client keeps its counters in files there and any worker's GET /metrics
    answers the sum over all of them (workers replaced by the supervisor keep counting: their files stay).
    Returns the folder made here, to remove on exit; one set by the operator is theirs to empty at start."""
    if os.environ.get(MULTIPROC_ENV):
        return None
    folder = tempfile.mkdtemp(prefix="reviewqueue-metrics-")
    os.environ[MULTIPROC_ENV] = folder  # inherited by the spawned workers, read when they import the client
    return folder


def serve(app: str = APP, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_level: str = "info", access_log: bool = True) -> None:
    """Serve the ASGI app ``app`` (an import string, so spawned workers can import it) until SIGINT/SIGTERM."""
    http = deadline_protocol(Settings())
    if workers <= 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log, http=http)
        return
    # Only uvicorn's own classes (and reviewqueue.http_limits, which imports no more than h11 and uvicorn) are
    # pickled into the workers: unpickling anything from this module would import the reviewqueue.api package
    # (seconds) before a worker can answer the supervisor's 5 s health-check ping.
    config = uvicorn.Config(app, host=host, port=port, workers=workers, log_level=log_level, access_log=access_log,
                            http=http)
    try:
        sock = bind_tcp_socket(host, port)
    except OSError as exc:
        logger.error("cannot bind %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    address = f"[{host}]" if sock.family == socket.AF_INET6 else host
    logger.info("Uvicorn running on http://%s:%d with %d workers (Press CTRL+C to quit)", address,
                sock.getsockname()[1], workers)
    supervisor = Multiprocess(config, sockets=[sock])
    owned_dir = multiprocess_metrics_dir()
    try:
        supervisor.run()
    finally:
        sock.close()
        if owned_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(owned_dir, ignore_errors=True)
    # uvicorn's supervisor stops, with status 0, when a worker fails before it starts serving (the app cannot be
    # imported, say), since every restart would fail the same way; report that as the failure it is.
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        sys.exit(STARTUP_FAILURE)
