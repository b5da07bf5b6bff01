"""The sandbox peers: loopback only, isolated state, clean stop, the Slack subset the demo needs."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from reviewqueue_dev.sandbox import LocalStripe, Sink

PICKLE = Path("/tmp/localstripe.pickle")  # localstripe's hard-coded state file


def listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a LISTEN socket on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            raise AssertionError(f"cannot read {table}: this check needs Linux /proc/net") from None
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_localstripe_listens_on_loopback_only(localstripe):
    port = int(localstripe.url.rsplit(":", 1)[1])

    assert listeners(port) == {"0100007F"}  # 127.0.0.1, and no IPv6 "::" socket


def test_each_localstripe_has_its_own_state_and_leaves_the_shared_pickle_alone(localstripe):
    before = PICKLE.stat().st_mtime_ns if PICKLE.exists() else None
    charge = localstripe.create_charge(500)

    with LocalStripe() as other:
        assert other.url != localstripe.url
        assert other.client.v1.charges.list().data == []
        other.create_charge(100)
    assert localstripe.client.v1.charges.retrieve(charge).amount == 500
    assert (PICKLE.stat().st_mtime_ns if PICKLE.exists() else None) == before


def test_localstripe_stop_ends_the_process_and_frees_the_port():
    server = LocalStripe().start()
    url = server.url
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_sink_stop_frees_the_port_and_leaves_no_thread():
    threads = set(threading.enumerate())
    sink = Sink().start()
    host, port = sink.url.removeprefix("http://").split(":")
    sink.stop()

    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=2):
        pass
    assert set(threading.enumerate()) <= threads


def test_sink_accepts_form_encoded_slack_posts_with_the_token_in_the_body(sink):
    response = httpx.post(
        f"{sink.slack_base_url}chat.postMessage",
        data={"token": sink.slack_token, "channel": "#ops", "text": "hi"},
        timeout=5,
    )

    assert response.json()["ok"] is True
    assert [(m["channel"], m["text"]) for m in sink.slack_messages] == [("#ops", "hi")]


def test_sink_answers_slack_errors_with_ok_false(sink):
    post = f"{sink.slack_base_url}chat.postMessage"

    assert httpx.post(post, json={"channel": "#x", "text": "t"}, timeout=5).json()["error"] == "not_authed"
    assert httpx.post(f"{sink.slack_base_url}users.list", timeout=5).json()["error"] == "unknown_method"


def test_sink_wait_for_wakes_on_the_next_record(sink):
    poster = threading.Thread(
        target=lambda: httpx.post(
            f"{sink.slack_base_url}chat.postMessage",
            headers={"Authorization": f"Bearer {sink.slack_token}"},
            json={"channel": "#ops", "text": "later"},
            timeout=5,
        )
    )
    poster.start()
    sink.wait_for(lambda s: len(s.slack_messages) == 1, timeout=5)
    poster.join(timeout=5)

    with pytest.raises(TimeoutError):
        sink.wait_for(lambda s: len(s.slack_messages) == 2, timeout=0.05)


def test_sink_messages_can_be_cleared_over_http(sink):
    httpx.post(
        f"{sink.slack_base_url}chat.postMessage",
        data={"token": sink.slack_token, "channel": "#a", "text": "x"},
        timeout=5,
    )
    httpx.delete(f"{sink.url}/sandbox/messages", timeout=5).raise_for_status()

    assert httpx.get(f"{sink.url}/sandbox/messages", timeout=5).json() == {"slack": [], "webhooks": []}
