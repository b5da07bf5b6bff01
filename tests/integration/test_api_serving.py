"""`reviewqueue api --workers N` (reviewqueue/api/serve.py): N worker processes on one listening socket bound with
IPPROTO_TCP, so every accepted connection gets TCP_NODELAY (uvicorn 0.54's own multi-worker socket leaves it off
and each response waits ~40 ms for a delayed ACK); a worker that dies is replaced; SIGTERM to the parent leaves no
process behind.

TCP_NODELAY is checked where it is decided — the socket factory, served the way uvicorn serves it (an asyncio server
on ``sock=``), in-process and after the socket crossed into a spawned process as it does to reach uvicorn's workers —
and, where the kernel lets this process duplicate a worker's descriptor (pidfd_getfd), on the live server's own
accepted connections.
"""

from __future__ import annotations

import asyncio
import ctypes
import http.client
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from reviewqueue.api import serve
from reviewqueue.api.serve import bind_tcp_socket
from reviewqueue.cli import app as cli_app
from reviewqueue.db.migrate import upgrade
from reviewqueue_dev.demo import settings_env
from reviewqueue_dev.processes import Child, child_env, wait_http
from reviewqueue_dev.threaded_server import free_port


def _accepted_nodelay(sock: socket.socket) -> bool:
    """Serve ``sock`` with an asyncio server (as uvicorn does), connect once, return the accepted side's
    TCP_NODELAY."""

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Grab(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conn = transport.get_extra_info("socket")
                accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Grab, sock=sock)
        async with server:
            _reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            value = await asyncio.wait_for(accepted, timeout=10)
            writer.close()
        return bool(value)

    return asyncio.run(main())


def _uvicorn_054_socket(host: str, port: int) -> socket.socket:
    """How uvicorn 0.54's Config.bind_socket creates the socket it shares between workers (proto 0)."""
    sock = socket.socket(family=socket.AF_INET)
    sock.bind((host, port))
    return sock


@pytest.mark.parametrize(("factory", "expected"), [(bind_tcp_socket, True), (_uvicorn_054_socket, False)],
                         ids=["bind_tcp_socket", "uvicorn-0.54-socket"])
def test_accepted_connections_get_tcp_nodelay_only_from_an_ipproto_tcp_socket(
    factory: Callable[[str, int], socket.socket], expected: bool
) -> None:
    # The uvicorn case is the stall this module exists for; it keeps the check honest (it can see a 0).
    with factory("127.0.0.1", 0) as sock:
        assert sock.proto == (socket.IPPROTO_TCP if expected else 0)
        assert _accepted_nodelay(sock) is expected


def _answer_nodelay(sock: socket.socket) -> None:
    """In a spawned process: answer each connection with one byte, its TCP_NODELAY ("1" or "0"), then close."""

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            transport.write(b"1" if conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) else b"0")
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Report, sock=sock)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def test_the_socket_keeps_ipproto_tcp_in_a_spawned_worker() -> None:
    """uvicorn's supervisor hands the parent's socket to spawned workers by pickling; the rebuilt socket must
    still say IPPROTO_TCP, or the workers' connections lose TCP_NODELAY again."""
    sock = bind_tcp_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    worker = multiprocessing.get_context("spawn").Process(target=_answer_nodelay, args=(sock,), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while True:  # the worker calls listen() once its event loop serves the socket
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                    answer = client.recv(1)
                break
            except ConnectionRefusedError:
                assert worker.is_alive() and time.monotonic() < deadline, "worker never served the socket"
                time.sleep(0.05)  # polling interval of a deadline-bounded wait
        assert answer == b"1"
    finally:
        worker.terminate()
        worker.join(timeout=10)
        sock.close()


def test_serve_hands_uvicorns_supervisor_an_ipproto_tcp_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve() with workers > 1 keeps uvicorn's supervisor but gives it our socket, bound where asked."""
    handed: list[socket.socket] = []

    class Supervisor:
        processes: list[object] = []

        def __init__(self, config: object, sockets: list[socket.socket]) -> None:
            handed.extend(sockets)

        def run(self) -> None:
            sock = handed[0]
            assert (sock.family, sock.type, sock.proto) == (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            assert sock.getsockname()[0] == "127.0.0.1"

    monkeypatch.setattr(serve, "Multiprocess", Supervisor)
    serve.serve(host="127.0.0.1", port=0, workers=3)
    assert len(handed) == 1 and handed[0].fileno() == -1  # closed once the supervisor returned


def test_serve_exits_with_startup_failure_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as exit_info:
            serve.serve(host="127.0.0.1", port=taken.getsockname()[1], workers=2)
    assert exit_info.value.code == 3  # uvicorn's STARTUP_FAILURE, as `uvicorn --workers N` exits


def test_cli_api_serves_through_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(serve, "serve", lambda **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(cli_app, ["api", "--workers", "2", "--port", "8123", "--no-access-log"])
    assert result.exit_code == 0, result.output
    assert calls == [{"host": "127.0.0.1", "port": 8123, "workers": 2, "log_level": "info", "access_log": False}]


# ------------------------------------------------------------------ the real command, as a subprocess
def _children(parent: int) -> dict[int, str]:
    """Live children of ``parent`` (pid → command line), read from /proc."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found[int(entry)] = cmdline
    return found


def _workers(parent: int) -> set[int]:
    # multiprocessing's resource tracker is a child too; uvicorn's workers are the spawn_main ones.
    return {pid for pid, cmd in _children(parent).items() if "spawn_main" in cmd}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _serving(api: Child) -> set[int]:
    """Pids of the worker processes that logged uvicorn's 'Started server process [pid]'."""
    try:
        text = api.log_path.read_text(errors="replace")
    except OSError:
        return set()
    return {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", text)}


def _wait_for(what: str, check: Callable[[], bool], api: Child, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{api.log_tail()}"
        time.sleep(0.1)  # polling interval of a deadline-bounded wait


def _server_end(port: int, client_port: int, workers: set[int]) -> tuple[int, int]:
    """(pid, fd) of the worker socket at the server end of the loopback connection from ``client_port``."""
    inode = next(line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if int(line.split()[1].split(":")[1], 16) == port
                 and int(line.split()[2].split(":")[1], 16) == client_port)
    for pid in workers:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid, int(fd)
            except OSError:
                continue  # closed while we looked
    raise AssertionError(f"no worker of {workers} holds socket {inode}")


def _nodelay_of(pid: int, fd: int) -> int | None:
    """TCP_NODELAY of another process's socket, read from a duplicate made by pidfd_getfd(2); None where the
    kernel or a seccomp/ptrace policy does not allow it."""
    pidfd = os.pidfd_open(pid)
    try:
        dup = ctypes.CDLL(None, use_errno=True).syscall(438, pidfd, fd, 0)  # 438: pidfd_getfd on every arch
    finally:
        os.close(pidfd)
    if dup < 0:
        return None
    with socket.socket(fileno=dup) as sock:  # closing a duplicate leaves the worker's connection open
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


METRICS_TOKEN = "scrape-the-workers"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Child, int]]:
    """`reviewqueue api --workers 2` on a free loopback port over a fresh SQLite database, its two workers through
    startup; yields (the parent process, its port)."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    env = child_env(settings_env({"environment": "test", "database_url": url,
                                  "artifact_dir": tmp_path / "artifacts", "metrics_token": METRICS_TOKEN}))
    port = free_port()
    argv = [sys.executable, "-m", "reviewqueue.cli", "api", "--workers", "2", "--port", str(port)]
    child = Child("api", argv, env, tmp_path / "api.log").start()
    try:
        assert child.process is not None
        parent = child.process.pid
        wait_http(f"http://127.0.0.1:{port}/healthz", child, timeout=120)
        # Both workers through startup (each logs its own pid): the kernel may hand a connection to either.
        _wait_for("two serving workers",
                  lambda: len(_workers(parent)) == 2 and _workers(parent) <= _serving(child), child)
        yield child, port
    finally:
        child.stop()


def test_live_workers_share_connections_and_set_tcp_nodelay(api: tuple[Child, int]) -> None:
    child, port = api
    assert child.process is not None
    workers = _workers(child.process.pid)
    holders: dict[int, int | None] = {}
    connections: list[http.client.HTTPConnection] = []
    try:
        # Keep-alive connections stay open so each can be traced to the worker holding its server end.
        while len(holders) < 2 and len(connections) < 64:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b'{"status":"ok"}'
            connections.append(conn)
            pid, fd = _server_end(port, conn.sock.getsockname()[1], workers)
            holders[pid] = _nodelay_of(pid, fd)
    finally:
        for conn in connections:
            conn.close()
    assert set(holders) == workers, f"{len(connections)} connections all went to {set(holders)}"
    assert None not in holders.values(), f"pidfd_getfd(2) refused: cannot read the workers' sockets ({holders})"
    assert all(value == 1 for value in holders.values()), holders


def test_every_worker_answers_metrics_summed_over_all_workers(api: tuple[Child, int]) -> None:
    """serve() runs the workers in prometheus-client's multiprocess mode: whichever worker a scrape reaches
    reports the requests all of them answered."""
    _child, port = api
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}

    def healthz_count() -> float:
        body = httpx.get(f"{base}/metrics", headers=auth, timeout=10).text  # a new connection: any worker
        return sum(s.value for family in text_string_to_metric_families(body) for s in family.samples
                   if s.name == "reviewqueue_http_request_duration_seconds_count" and s.labels["route"] == "/healthz")

    before = healthz_count()
    for _ in range(40):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200  # each on a new connection
    assert [healthz_count() for _ in range(8)] == [before + 40] * 8


def test_a_dead_worker_is_replaced_and_sigterm_leaves_no_process(api: tuple[Child, int]) -> None:
    child, port = api
    assert child.process is not None
    parent = child.process.pid
    url = f"http://127.0.0.1:{port}/healthz"
    first = _workers(parent)

    # A worker that dies is replaced (uvicorn's supervisor logs it) and the API keeps answering.
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _wait_for("the dead worker's replacement",
              lambda: victim not in _workers(parent) and len(_workers(parent)) == 2
              and _workers(parent) <= _serving(child), child)
    assert f"Child process [{victim}] died" in child.log_path.read_text(errors="replace")
    with httpx.Client(timeout=10) as client:
        assert all(client.get(url).status_code == 200 for _ in range(10))

    # SIGTERM to the parent: it stops every worker, waits for them, and exits cleanly — no orphan keeps the port.
    everyone = first | set(_children(parent))  # the workers, the replacement and multiprocessing's resource tracker
    child.process.send_signal(signal.SIGTERM)
    assert child.process.wait(timeout=60) == 0, child.log_tail()
    _wait_for("every child process to exit", lambda: not any(_alive(pid) for pid in everyone), child, timeout=30)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)
