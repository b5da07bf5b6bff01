"""Wait for a condition with a deadline: the sandbox's only way to wait (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], *, timeout: float, interval: float = 0.01, what: str = "condition"
) -> T:
    """Return ``condition()``'s first truthy value, or raise TimeoutError naming ``what`` after ``timeout`` s.

    The poll interval grows from ``interval`` to 0.1 s so a quick condition is seen quickly and a slow one
    does not spin.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, 0.1)
