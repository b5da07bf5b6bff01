"""A small per-process cache whose entries expire after a fixed number of seconds, or at once when the
process's own write generation moves.

``cache.get(key, generation)`` returns what was put under ``key`` if it is younger than ``ttl`` seconds
(``time.monotonic``: a test's frozen wall clock does not keep entries alive) and was put under the same
``generation``; a writer in the same process bumps the generation, so its change is seen by the next read
here, while other processes see it within ``ttl``. Memory is bounded: beyond ``max_keys`` the least recently
put keys are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

V = TypeVar("V")


class TtlCache(Generic[V]):
    """Values by key for ``ttl`` seconds, under one write generation; thread-safe."""

    def __init__(self, ttl: float, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, generation: int = 0) -> V | None:
        """The value put under ``key`` less than ``ttl`` seconds ago in this ``generation``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            put_at, put_generation, value = entry
            if put_generation != generation or self._clock() - put_at >= self.ttl:
                del self._entries[key]
                return None
            return value

    def put(self, key: str, value: V, generation: int = 0) -> None:
        """Keep ``value`` under ``key``; ``generation`` is the writer generation read BEFORE the value was."""
        with self._lock:
            self._entries[key] = (self._clock(), generation, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
