"""One log line format for every process (CLI, worker, each API worker process): the message, then every field a
call passed in ``extra={...}``, as ``key=value`` on the same line (a value with spaces, quotes or ``=`` is
JSON-quoted, so a line always splits back into its fields). Standard library only."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import IO, Any

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
NOISY = ("httpx", "stripe", "apscheduler", "slack_sdk")  # one line per call/tick drowns the rest
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_BARE = re.compile(r"[^\s\"=\\]+")


def _value(value: Any) -> str:
    if isinstance(value, str) and _BARE.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)  # quoted and escaped: the line stays one line


class KeyValueFormatter(logging.Formatter):
    """``FORMAT`` followed by `` key=value`` for each ``extra`` field, in the order the call gave them."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        fields = "".join(f" {key}={_value(value)}" for key, value in record.__dict__.items()
                         if key not in _STANDARD and not key.startswith("_"))
        return super().formatMessage(record) + fields


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted. A handler bound to the stream of the moment
    keeps it after it is swapped and closed (a test runner's or CliRunner's capture), and every later record then
    prints "--- Logging error ---" into someone else's output."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:  # StreamHandler.__init__ assigns it; the property decides
        return None


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Log to ``stream`` (default: the current stderr, looked up per record) through ``KeyValueFormatter`` (once
    per process: a second call changes nothing)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        handler = logging.StreamHandler(stream) if stream is not None else CurrentStderrHandler()
        handler.setFormatter(KeyValueFormatter())
        root.addHandler(handler)
        root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def error_fields(exc: BaseException) -> dict[str, str]:
    """What went wrong, for a log line: the underlying error's class and message (a driver error wrapped by
    SQLAlchemy is unwrapped), the message cut at 300 characters."""
    cause = getattr(exc, "orig", None) or exc
    return {"error_class": type(cause).__name__, "error": str(cause).strip()[:300]}
