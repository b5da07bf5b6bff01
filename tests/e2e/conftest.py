"""A real stack for end-to-end tests: the API and the worker as subprocesses, real connectors pointed at
localstripe, the Slack/webhook sink and a business SQLite database — all on 127.0.0.1, all stopped after.
localstripe and the sink are the session's (tests/conftest.py); each test uses its own charges and an empty sink.
The API and the workers serve the product's models (models.fraud) unless a module overrides
``stack_model_modules`` (tests/e2e/test_worker_faults.py: tests/automatic_fraud.py, every action automatic)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reviewqueue.services.context import AppContext
from reviewqueue_dev.demo import create_business_db, settings_env
from reviewqueue_dev.processes import Child, api_child, child_env, wait_http, worker_child
from reviewqueue_dev.sandbox import LocalStripe, Sink
from reviewqueue_dev.threaded_server import free_port
from tests.stripe_signing import WEBHOOK_SECRET


@dataclass
class Stack:
    ctx: AppContext
    stripe: LocalStripe
    sink: Sink
    business_db: Path
    env: dict[str, str]
    logs: Path
    api_url: str = ""
    children: list[Child] = field(default_factory=list)

    def start_worker(self, name: str = "worker", **overrides: Any) -> Child:
        env = {**self.env, **settings_env(overrides)}
        child = worker_child(env, self.logs, name).start()
        self.children.append(child)
        return child

    def banned_users(self) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.business_db) as conn:
            return conn.execute("SELECT id, banned_reason, banned_by FROM users WHERE banned = 1").fetchall()

    def logs_tail(self) -> str:
        return "\n".join(f"--- {c.name}\n{c.log_tail(30)}" for c in self.children)


@pytest.fixture
def stack_model_modules() -> list[str]:
    """The ``model_modules`` setting of the stack's API and workers."""
    return ["models.fraud"]


@pytest.fixture
def stack(ctx: AppContext, localstripe: LocalStripe, sink: Sink, tmp_path: Path,
          stack_model_modules: list[str]) -> Iterator[Stack]:
    stripe = localstripe  # the session's (tests/conftest.py); the sink is reset for each test
    business_db = tmp_path / "business.db"
    create_business_db(business_db, [f"u{i}" for i in range(200)] + [f"u{i}" for i in range(1000, 1100)])
    values = {
        "environment": "test", "database_url": ctx.settings.database_url,
        "artifact_dir": Path(ctx.settings.artifact_dir).resolve(), "stripe_webhook_secret": WEBHOOK_SECRET,
        "business_db_url": f"sqlite:///{business_db}", "worker_poll_seconds": 0.05,
        "retry_base_seconds": 0.2, "retry_max_seconds": 1.0, "outbox_visibility_seconds": 5,
        "worker_concurrency": 4, "scheduler_enabled": False, "model_modules": stack_model_modules,
        **stripe.settings_fields(), **sink.settings_fields("shop"),
    }
    env = child_env(settings_env(values))
    result = Stack(ctx, stripe, sink, business_db, env, tmp_path / "logs")
    port = free_port()
    api = api_child(port, env, result.logs).start()
    result.children.append(api)
    result.api_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{result.api_url}/healthz", api)
        yield result
    finally:
        for child in reversed(result.children):
            child.stop()
