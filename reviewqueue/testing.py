"""Fakes shipped with the package, for tests of code that sits in front of a port.

``RecordingConnector`` stands in for any connector: it records every ActionContext it is given and can be
told to fail the next N deliveries, so outbox tests can assert retries and dead-lettering on state alone.
``in_memory_context`` gives a service test its own database: SQLite in memory at the migrations' head, the
same schema and statements as production, with no file and no server — a unit test, fast and isolated.
"""

from __future__ import annotations

import threading
from typing import Any

from connectors.base import ActionContext
from reviewqueue.errors import DeliveryError, RetryableDeliveryError
from reviewqueue.registry import Registry
from reviewqueue.services.context import AppContext

__all__ = ["RecordingConnector", "in_memory_context"]

MEMORY_URL = "sqlite:///:memory:"


def in_memory_context(registry: Registry, **settings: Any) -> AppContext:
    """An AppContext over a private in-memory SQLite database migrated to head (one connection, so every
    statement sees the same database). ``settings`` override Settings fields (``environment`` is "test")."""
    from alembic import command
    from sqlalchemy.pool import StaticPool

    from reviewqueue.db.engine import make_engine
    from reviewqueue.db.migrate import alembic_config
    from reviewqueue.settings import Settings

    engine = make_engine(MEMORY_URL, poolclass=StaticPool)
    config = alembic_config(MEMORY_URL)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    values: dict[str, Any] = {"environment": "test", "database_url": MEMORY_URL, **settings}
    return AppContext(settings=Settings(**values), engine=engine, registry=registry)


class RecordingConnector:
    """A connector that performs nothing and remembers everything (thread-safe: the worker is concurrent).

    ``calls`` holds every attempt, failed ones included; ``delivered`` only those that returned.
    """

    def __init__(self, name: str, *, outcome: dict[str, Any] | None = None) -> None:
        self.name = name
        self._outcome = outcome
        self._lock = threading.Lock()
        self._calls: list[ActionContext] = []
        self._delivered: list[ActionContext] = []
        self._failures: list[DeliveryError] = []
        self.closed = False

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        with self._lock:
            self._calls.append(action)
            if self._failures:
                raise self._failures.pop(0)
            self._delivered.append(action)
        if self._outcome is not None:
            return dict(self._outcome)
        return {"recorded": True, "action_id": action.action_id}

    def close(self) -> None:
        self.closed = True

    def fail_next(self, times: int = 1, error: DeliveryError | None = None) -> None:
        """Raise ``error`` (default: a RetryableDeliveryError) on each of the next ``times`` deliveries."""
        with self._lock:
            for _ in range(times):
                self._failures.append(error or RetryableDeliveryError(f"{self.name}: scripted failure"))

    @property
    def calls(self) -> list[ActionContext]:
        with self._lock:
            return list(self._calls)

    @property
    def delivered(self) -> list[ActionContext]:
        with self._lock:
            return list(self._delivered)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._delivered.clear()
            self._failures.clear()
