"""Fixtures of the fault suite: the session's localstripe and sink (tests/conftest.py: each test counts only
its own charges, and the sink is reset per test), the real API in process, and a Rig that starts workers and
fault proxies and stops every one of them at the end.

The rig serves tests/automatic_fraud.py — the fraud model with every action automatic — in its API and its
workers: the suite counts each action's effect under faults, so an auto-flagged event must fire all four."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reviewqueue.registry import Registry
from reviewqueue.services.context import AppContext
from reviewqueue_dev.sandbox import LocalStripe, Sink
from tests import automatic_fraud
from tests.faults.rig import Rig


@pytest.fixture(scope="session")
def automatic_registry() -> Registry:
    return automatic_fraud.registry()


@pytest.fixture
def rig(ctx: AppContext, automatic_registry: Registry, localstripe: LocalStripe, sink: Sink,
        tmp_path: Path) -> Iterator[Rig]:
    """The real API (in process, over this test's database) serving the all-automatic fraud model."""
    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    rig_ctx = replace(ctx, registry=automatic_registry)
    with ThreadedServer(create_app(rig_ctx)) as server:
        result = Rig(rig_ctx, localstripe, sink, server.url, tmp_path)
        try:
            yield result
        finally:
            result.stop()
