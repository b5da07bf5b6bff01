"""Log lines go to the stderr of the moment: a stream swapped in and closed (a CLI runner's capture) never
receives a later record, and no "--- Logging error ---" leaks into another command's output."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from reviewqueue.logs import CurrentStderrHandler, KeyValueFormatter


def test_a_record_after_the_captured_stream_closed_goes_to_the_current_stderr(
        monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("reviewqueue.test_log_stream")
    logger.propagate = False
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler = CurrentStderrHandler()  # created while the first capture is sys.stderr, as under CliRunner
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    try:
        logger.warning("first", extra={"action_id": "a1"})
        first.close()
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logger.warning("second", extra={"action_id": "a2"})
    finally:
        logger.removeHandler(handler)
    out = second.getvalue()
    assert "second action_id=a2" in out
    assert "Logging error" not in out and "first" not in out
