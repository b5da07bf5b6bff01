"""Fixtures for the connector tests: real peers on loopback (localstripe, the sink, a SQLite business DB).

localstripe and the sink are the session's, from tests/conftest.py (the sink is reset for each test).
REVIEWQUEUE_* variables are scrubbed by tests/conftest.py; every Settings here is built explicitly.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ActionContext
from reviewqueue.settings import Settings


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(**fields: Any) -> Settings:
        fields.setdefault("environment", "test")
        return Settings(**fields)

    return make


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connecting is refused, reliably."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections (kernel backlog) but never answers: requests time out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def business_db(tmp_path: Path) -> str:
    """A business database with three users, none banned; returns its SQLAlchemy URL."""
    path = tmp_path / "business.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, banned INTEGER NOT NULL DEFAULT 0,"
            " banned_reason TEXT)"
        )
        db.executemany(
            "INSERT INTO users (id, email) VALUES (?, ?)",
            [(1, "ann@example.com"), (2, "bob@example.com"), (3, "cy@example.com")],
        )
    db.close()
    return f"sqlite:///{path}"


def fraud_payload(**context: Any) -> dict[str, Any]:
    """A realistic payload of a decided fraud item; ``context`` overrides its context fields."""
    return {
        "model": "fraud",
        "external_id": "txn_42",
        "item_id": 17,
        "verdict": "fraud",
        "score": 0.937,
        "source": "reviewer",
        "actor": "alice",
        "features": {"amount": 129.5},
        "context": {"user_id": 2, "charge_id": "ch_missing", **context},
    }


def _action(
    connector: str,
    *,
    action_id: str = "act_0001",
    params: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    attempt: int = 1,
    outcome_unknown: bool = False,
) -> ActionContext:
    return ActionContext(
        action_id=action_id,
        connector=connector,
        params=params or {},
        payload=payload if payload is not None else fraud_payload(),
        attempt=attempt,
        outcome_unknown=outcome_unknown,
    )


@pytest.fixture
def make_action() -> Callable[..., ActionContext]:
    """Build an ActionContext: ``make_action("webhook", action_id=..., payload=..., attempt=...)``."""
    return _action


@pytest.fixture
def payload_for() -> Callable[..., dict[str, Any]]:
    """Build the fraud payload with context overrides: ``payload_for(charge_id="ch_…")``."""
    return fraud_payload


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register a connector to be closed at teardown: ``connector = closing(WebhookConnector(settings))``."""
    opened: list[Any] = []

    def register(connector: Any) -> Any:
        opened.append(connector)
        return connector

    yield register
    for connector in opened:
        connector.close()
