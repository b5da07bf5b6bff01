"""A clock tests can move: lease expiry without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def past_undo_window(ctx: Any, verdict: str = "fraud", model: str = "fraud") -> FakeClock:
    """Wait out a person's decision's undo window without sleeping: ``ctx.clock`` becomes (or stays) a FakeClock
    that is moved the model's window for ``verdict`` ahead, so the decision's actions are due. Call it after the
    decision; returns the clock."""
    clock = ctx.clock if isinstance(ctx.clock, FakeClock) else FakeClock()
    clock.advance(ctx.registry.model(model).undo_window(verdict))
    ctx.clock = clock
    return clock
