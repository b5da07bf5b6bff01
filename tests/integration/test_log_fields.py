"""Log lines keep their fields: every ``extra={...}`` a call passes appears on the line as key=value, through the
logging the CLI and each API process set up (``reviewqueue.logs.configure_logging``). Captured from the real
dispatcher, worker loop and API, not from a hand-made record."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import OutboxAction
from reviewqueue.domain.states import Role
from reviewqueue.errors import RetryableDeliveryError
from reviewqueue.logs import KeyValueFormatter, configure_logging
from reviewqueue.services import decisions, ingest, outbox, queue
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.services.context import AppContext
from reviewqueue.testing import RecordingConnector
from reviewqueue.worker import Worker
from tests.clock import past_undo_window
from tests.factories import make_settings, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
CONNECTORS = ("stripe_refund", "slack_message", "sql", "webhook")
DEADLINE = 30.0


def _ours(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if isinstance(h.formatter, KeyValueFormatter)]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the logging ``configure_logging`` sets up writes, captured (its stream: this buffer, not stderr)."""
    root = logging.getLogger()
    level = root.level
    for handler in _ours(root):
        root.removeHandler(handler)
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    yield buffer
    for handler in _ours(root):
        root.removeHandler(handler)
    root.setLevel(level)


def wait_for_line(output: io.StringIO, pattern: str) -> str:
    deadline = time.monotonic() + DEADLINE
    while True:
        lines = output.getvalue().splitlines()
        found = [line for line in lines if re.search(pattern, line)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no log line matching {pattern!r} in:\n" + "\n".join(lines[-20:])
        time.sleep(0.02)


def test_a_dead_letter_line_names_the_action_item_connector_and_error(ctx, people, log_output):
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0)])
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token)
    ctx.settings.outbox_max_attempts = 3
    clock = past_undo_window(ctx)  # the reviewer's "fraud" waits out its undo window first
    fakes = {name: RecordingConnector(name) for name in CONNECTORS}
    fakes["slack_message"].fail_next(3, RetryableDeliveryError("rate limited (429)"))
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    try:
        for _ in range(10):  # each pass, then jump over the retry delay
            dispatcher.run_once()
            clock.advance(400)
    finally:
        dispatcher.close()
    with ctx.engine.connect() as conn:
        dead = conn.execute(select(OutboxAction).where(OutboxAction.status == "dead")).one()
    line = wait_for_line(log_output, r"ERROR \S+ action dead-lettered")
    assert "ERROR reviewqueue.services.outbox action dead-lettered" in line
    for field in (f"action_id={dead.id}", f"item_id={item.id}", "connector=slack_message", "attempt=3",
                  "error_class=RetryableDeliveryError", 'error="RetryableDeliveryError: rate limited (429)"'):
        assert f" {field}" in line, f"{field} missing from: {line}"


@pytest.fixture
def unreachable(settings, registry, tmp_path: Path) -> Iterator[AppContext]:
    """A context on a database with no tables (never migrated): every statement fails as an OperationalError."""
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    broken = AppContext(settings=make_settings(url, tmp_path), engine=make_engine(url), registry=registry)
    yield broken
    broken.engine.dispose()


def test_database_unavailable_lines_carry_the_underlying_error(unreachable, log_output):
    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    with ThreadedServer(create_app(unreachable)) as server:
        r = httpx.get(f"{server.url}/v1/me", headers={"Authorization": "Bearer rq_anything"}, timeout=10)
    assert r.status_code == 503, r.text
    line = wait_for_line(log_output, r"ERROR \S+ database unavailable")
    assert re.search(r' action=db_unavailable error_class=OperationalError error="no such table: \w+"$', line), line

    worker = Worker(unreachable, {}, scheduler=False)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        line = wait_for_line(log_output, r"outbox pass failed: database unavailable")
    finally:
        worker.stop()
        runner.join(DEADLINE)
    assert re.search(r' action=outbox_db_down error_class=OperationalError error="no such table: \w+"$', line), line


def test_each_api_worker_process_writes_its_lines_with_their_fields(tmp_path: Path) -> None:
    """`reviewqueue api --workers 2`: uvicorn spawns the workers, which set up no logging of their own; the
    app's lines must still carry their fields (they came out as the bare message before)."""
    import sqlite3
    import sys

    from reviewqueue.db.migrate import upgrade
    from reviewqueue_dev.demo import settings_env
    from reviewqueue_dev.processes import Child, child_env, wait_http
    from reviewqueue_dev.threaded_server import free_port

    db = tmp_path / "api.db"
    upgrade(f"sqlite:///{db}")
    env = child_env(settings_env({"environment": "test", "database_url": f"sqlite:///{db}",
                                  "artifact_dir": tmp_path / "artifacts"}))
    port = free_port()
    log_path = tmp_path / "api.log"
    child = Child("api", [sys.executable, "-m", "reviewqueue.cli", "api", "--workers", "2", "--port", str(port)],
                  env, log_path).start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", child, timeout=120)
        with sqlite3.connect(db) as conn:  # the database loses a table under the running workers
            conn.execute("DROP TABLE api_tokens")
        r = httpx.get(f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": "Bearer rq_anything"}, timeout=10)
        assert r.status_code == 503, r.text
        deadline = time.monotonic() + DEADLINE
        while not (lines := [ln for ln in log_path.read_text().splitlines() if "database unavailable" in ln]):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        child.stop()
    assert re.search(r"ERROR reviewqueue\.api\.errors database unavailable action=db_unavailable "
                     r'error_class=OperationalError error="no such table: api_tokens"$', lines[0]), lines[0]
