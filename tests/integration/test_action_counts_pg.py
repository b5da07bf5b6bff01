"""Action counts on a large outbox (PostgreSQL): pending, in flight and dead stay exact; done comes from the
planner's statistics instead of an index scan over every delivered action."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from reviewqueue.db import bulk
from reviewqueue.db.tables import OutboxAction
from reviewqueue.services import outbox

pytestmark = pytest.mark.postgres_only


def seed(ctx, status: str, n: int, tag: str) -> None:
    now = datetime.now(UTC)
    rows = [{"id": f"{tag}{i:06d}", "decision_id": None, "connector": "webhook", "params": {}, "payload": {},
             "status": status, "attempts": 1, "outcome_unknown": False, "next_attempt_at": now, "created_at": now}
            for i in range(n)]
    with ctx.engine.begin() as conn:
        bulk.insert_many(conn, OutboxAction.__table__, rows)


def test_done_is_estimated_above_the_threshold_and_the_rest_stays_exact(ctx, monkeypatch):
    seed(ctx, "done", 300, "d")
    seed(ctx, "dead", 3, "x")
    seed(ctx, "pending", 5, "p")
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE outbox_actions"))  # what autovacuum's analyze keeps current in production
    seed(ctx, "pending", 2, "late")  # after the statistics: counted exactly all the same

    exact = outbox.counts(ctx).model_dump()
    monkeypatch.setattr(outbox, "EXACT_DONE_UP_TO", 100)  # this table (~310 rows) now counts as large
    estimated = outbox.counts(ctx).model_dump()

    assert exact == {"pending": 7, "in_flight": 0, "done": 300, "dead": 3, "total": 310, "refused": 0,
                     "cancelled": 0, "done_estimated": False}
    assert estimated["done_estimated"] is True, estimated
    assert (estimated["pending"], estimated["in_flight"], estimated["dead"]) == (7, 0, 3), estimated
    # the statistics saw 308 rows, 8 of them pending or dead at the time: done is 300 give or take the late ones
    assert abs(estimated["done"] - 300) <= 2, estimated
    assert estimated["total"] == sum(estimated[s] for s in ("pending", "in_flight", "done", "dead")), estimated
