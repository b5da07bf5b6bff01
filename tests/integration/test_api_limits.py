"""Resource limits and security headers of the API, over real HTTP against `reviewqueue api` started as a
process on 127.0.0.1 (reviewqueue/api/guard.py, reviewqueue/http_limits.py): a body past
REVIEWQUEUE_MAX_BODY_BYTES gets 413 before authentication — declared or streamed chunked; a client that trickles
its request head or body loses the connection; every response carries the security headers."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from reviewqueue.db.migrate import upgrade
from reviewqueue.settings import Settings
from reviewqueue_dev.demo import settings_env
from reviewqueue_dev.processes import Child, child_env, wait_http
from reviewqueue_dev.threaded_server import free_port
from tests.factories import transaction

LIMIT = 64 * 1024
TIMEOUT = 1.5  # head and body deadlines of the server under test
PREDICT = "/v1/models/fraud/predictions"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`reviewqueue api` with a 64 KiB body limit and 1.5 s read deadlines, over a fresh SQLite database."""
    tmp = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{tmp / 'api.db'}"
    upgrade(url)
    env = child_env(settings_env({"environment": "test", "database_url": url, "artifact_dir": tmp / "artifacts",
                                  "max_body_bytes": LIMIT, "header_timeout_seconds": TIMEOUT,
                                  "body_timeout_seconds": TIMEOUT}))
    port = free_port()
    argv = [sys.executable, "-m", "reviewqueue.cli", "api", "--port", str(port), "--log-level", "warning"]
    child = Child("api", argv, env, tmp / "api.log").start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", child, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stop()


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["type"] == "body_too_large" and error["field"] == "body"
    assert str(LIMIT) in error["message"] and "REVIEWQUEUE_MAX_BODY_BYTES" in error["message"]


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open at ``deadline``."""
    data = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open; it sent {data!r}") from None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_declared_oversized_body_gets_413_before_authentication_without_being_read(base_url: str) -> None:
    # No token at all: authentication would answer 401; the limit answers first, before a byte of body is sent.
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=10) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode())
        raw = _read_until_closed(sock, time.monotonic() + 10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert b"x-content-type-options: nosniff" in head.lower()
    assert json.loads(body)["error"]["type"] == "body_too_large"


def test_chunked_body_past_the_limit_gets_413_while_streaming(base_url: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # up to 16 MiB if nothing stopped it
            sent += 16 * 1024
            yield b" " * (16 * 1024)

    with httpx.Client(timeout=10) as client:
        response = client.post(base_url + PREDICT, content=chunks(), headers={"Content-Type": "application/json"})
    _assert_too_large(response)
    assert sent < 1000 * 16 * 1024  # the server answered and closed long before the client finished


def test_bodies_within_the_limit_still_reach_authentication(base_url: str) -> None:
    body = json.dumps({"events": [transaction(i) for i in range(50)]})
    assert len(body) < LIMIT
    response = httpx.post(base_url + PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text


def test_the_default_limit_holds_a_full_batch() -> None:
    settings = Settings()
    events = [transaction(i, risky=i % 2 == 0) for i in range(settings.batch_limit)]
    assert len(json.dumps({"events": events}).encode()) < settings.max_body_bytes


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
                         ids=["nothing", "half a head"])
def test_a_slow_request_head_loses_its_connection(base_url: str, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=10) as sock:
        opened = time.monotonic()
        sock.sendall(sent)
        assert _read_until_closed(sock, opened + TIMEOUT + 5) == b""
        assert time.monotonic() - opened >= TIMEOUT - 0.2


def test_a_head_trickled_byte_by_byte_loses_its_connection(base_url: str) -> None:
    """Each byte arrives well within the deadline, so only a deadline on the whole head stops it."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=10) as sock:
        opened = time.monotonic()
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)  # the attack itself: one byte every 50 ms
            if time.monotonic() - opened > TIMEOUT + 5:
                raise AssertionError("the server accepted a head trickled for longer than its deadline")
        assert _read_until_closed(sock, opened + TIMEOUT + 5) == b""


def test_a_slow_body_loses_its_connection(base_url: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=10) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n{".encode())
        sent = time.monotonic()
        _read_until_closed(sock, sent + TIMEOUT + 5)


def test_a_keep_alive_connection_serves_requests_within_the_deadlines(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200


def test_security_headers_on_every_response(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        responses = {"healthz": client.get("/healthz"), "unauthenticated": client.get("/v1/me"),
                     "openapi": client.get("/openapi.json"), "docs": client.get("/docs")}
    assert responses["unauthenticated"].status_code == 401
    for name, response in responses.items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["x-frame-options"] == "DENY", name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
    for name in ("healthz", "unauthenticated", "openapi"):
        assert responses[name].headers["content-security-policy"].startswith("default-src 'none'"), name
        assert responses[name].headers["cache-control"] == "no-store", name
    # /docs still works: an HTML page whose CSP does not block the Swagger UI it loads
    docs = responses["docs"]
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "default-src" not in docs.headers["content-security-policy"]
