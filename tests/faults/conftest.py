"""Fixtures of the fault suite: the session's localstripe and sink (tests/conftest.py: each test counts only
its own charges, and the sink is reset per test), the real API in process, and a Rig that starts workers and
fault proxies and stops every one of them at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reviewqueue.services.context import AppContext
from reviewqueue_dev.sandbox import LocalStripe, Sink
from tests.faults.rig import Rig


@pytest.fixture
def rig(ctx: AppContext, localstripe: LocalStripe, sink: Sink, live_api: str, tmp_path: Path) -> Iterator[Rig]:
    result = Rig(ctx, localstripe, sink, live_api, tmp_path)
    try:
        yield result
    finally:
        result.stop()
