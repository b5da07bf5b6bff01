"""20 reviewers claiming from 1,000 items at once on PostgreSQL: each item claimed exactly once."""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from reviewqueue.db import items as item_queries
from reviewqueue.db.tables import Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import auth
from reviewqueue.services.context import AppContext

pytestmark = pytest.mark.postgres_only


def seed_items(ctx: AppContext, n: int) -> None:
    now = ctx.now()
    with ctx.engine.begin() as conn:
        ids = conn.execute(insert(Prediction.__table__).returning(Prediction.__table__.c.id,
                                                                   sort_by_parameter_order=True), [
            {"model_name": "fraud", "external_id": f"c{i}", "version_id": 1, "score": 0.5, "route": "review",
             "audited": False, "features": {}, "context": {}, "created_at": now} for i in range(n)
        ]).scalars().all()
        conn.execute(insert(ReviewItem.__table__), [
            {"prediction_id": pid, "queue": "fraud", "kind": "review", "priority": float(i % 97),
             "status": "pending", "created_at": now} for i, pid in enumerate(ids)
        ])


def test_twenty_threads_claim_each_item_exactly_once(ctx):
    seed_items(ctx, 1000)
    reviewers = []
    for i in range(20):
        pid = auth.create_principal(ctx, f"r{i}", Role.REVIEWER, ["fraud"])
        reviewers.append(auth.Actor(pid, f"r{i}", Role.REVIEWER, ("fraud",)))
    claimed: list[tuple[int, str]] = []
    lock = threading.Lock()
    errors: list[Exception] = []
    start = threading.Barrier(20)

    def claim_all(actor: auth.Actor) -> None:
        start.wait()
        try:
            while True:
                with ctx.engine.begin() as conn:
                    row = item_queries.claim_next_item(conn, ["fraud"], actor.id, secrets.token_hex(8), ctx.now(), 300)
                if row is None:
                    return
                with lock:
                    claimed.append((row.id, actor.name))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    per_item = Counter(item_id for item_id, _ in claimed)
    doubles = [i for i, n in per_item.items() if n > 1]
    assert not doubles, f"{len(doubles)} items claimed twice"
    assert len(per_item) == 1000, f"claimed {len(per_item)} of 1000; none may be lost"
    assert len({name for _, name in claimed}) > 1, "the work was shared across reviewers"
    with ctx.engine.connect() as conn:
        pending = conn.execute(select(func.count()).select_from(ReviewItem.__table__)
                               .where(ReviewItem.__table__.c.status == "pending")).scalar_one()
    assert pending == 0
