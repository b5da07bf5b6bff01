"""Sign-in throttling: a small sliding window of recent attempts per key, kept in this process's memory.

``attempts.wait(key, now, limit, window)`` is how long the caller must wait before the next attempt counts:
0 while fewer than ``limit`` attempts fell in the last ``window`` seconds, else the time until the oldest of
them leaves the window (that is the Retry-After). Several API processes each keep their own windows, so the
effective limit is ``limit × processes``; the keys are few and short-lived, so memory stays small (the
least recently touched keys are dropped beyond ``max_keys``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

__all__ = ["Attempts"]


class Attempts:
    """Timestamps (seconds) of recent attempts per key; thread-safe."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str, now: float, limit: int, window: float) -> int:
        """Whole seconds until another attempt for ``key`` is allowed (0: allowed now)."""
        with self._lock:
            times = self._pruned(key, now, window)
            if times is None or len(times) < limit:
                return 0
            return max(1, math.ceil(times[len(times) - limit] + window - now))

    def add(self, key: str, now: float, window: float) -> None:
        """Count an attempt for ``key`` at ``now``."""
        with self._lock:
            times = self._pruned(key, now, window)
            if times is None:
                times = self._seen[key] = deque()
            times.append(now)
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget ``key``'s attempts (a successful sign-in clears its name's failures)."""
        with self._lock:
            self._seen.pop(key, None)

    def _pruned(self, key: str, now: float, window: float) -> deque[float] | None:
        times = self._seen.get(key)
        if times is None:
            return None
        while times and times[0] <= now - window:
            times.popleft()
        return times
