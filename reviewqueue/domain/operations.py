"""Operations figures from stored timestamps (pure): percentiles, reviewer rates, queue depth and age over time.

Queue health is reconstructed from each item's ``created_at`` and ``decided_at``, never sampled: at time ``t`` an
item is **open** when ``created_at ≤ t`` and it was not decided by ``t`` (``decided_at`` NULL or ``> t``); the
queue's depth is the number of open items and its age the age ``t − created_at`` of the oldest open one. Open
counts both waiting and held items (a claim's history is not kept, only the last claim's start); an item counts in
the queue it is in now (an escalation moves it); a decision later undone reopens the item, and it counts as open
again only from the undo on.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = ["QueuePoint", "edges", "percentile", "queue_series"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by linear interpolation between order statistics (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def edges(since: datetime, until: datetime, step: timedelta) -> list[datetime]:
    """The times the series is read at: ``since + k·step`` up to ``until`` (both included when on the grid)."""
    out = []
    at = since
    while at <= until:
        out.append(at)
        at += step
    return out


QueuePoint = tuple[datetime, int, float | None]  # at, open items, oldest open item's age in seconds


def queue_series(spans: Sequence[tuple[datetime, datetime | None]], at: Sequence[datetime]) -> list[QueuePoint]:
    """Depth and oldest age of one queue at each time in ``at`` (ascending), from its items' (created, decided).

    One pass: items join a heap (by creation) once created; the heap's top is dropped while it was decided by
    ``t`` — a closed item never reopens in this model, so what is dropped stays dropped."""
    created = sorted(c for c, _ in spans)
    decided = sorted(d for _, d in spans if d is not None)
    by_creation = sorted(spans, key=lambda s: s[0])
    heap: list[tuple[datetime, int, datetime | None]] = []
    out: list[QueuePoint] = []
    i = 0
    for t in at:
        while i < len(by_creation) and by_creation[i][0] <= t:
            heapq.heappush(heap, (by_creation[i][0], i, by_creation[i][1]))
            i += 1
        while heap and heap[0][2] is not None and heap[0][2] <= t:
            heapq.heappop(heap)
        open_items = bisect_right(created, t) - bisect_right(decided, t)
        oldest = (t - heap[0][0]).total_seconds() if heap else None
        out.append((t, open_items, oldest))
    return out
