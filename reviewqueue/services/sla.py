"""SLA pages: a high-risk item unclaimed past its model's SLA pages the on-call channel — once.

The page is an outbox action (a Slack message), so it is delivered, retried and dead-lettered like any
other effect; ``review_items.paged_at`` is set in the same commit by a conditional UPDATE, so two
schedulers racing, or a rerun, never page twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem, new_id
from reviewqueue.domain.states import ItemStatus
from reviewqueue.registry import ModelSpec
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import outbox

log = logging.getLogger(__name__)
items = ReviewItem.__table__  # type: ignore[attr-defined]
predictions = Prediction.__table__  # type: ignore[attr-defined]
versions = ModelVersion.__table__  # type: ignore[attr-defined]
PAGE_TEXT = ("SLA breach: {model} item {external_id} (risk {score:.2f}) has waited unclaimed for more than "
             "{sla_minutes:g} minutes. <{link}|Open it in reviewqueue>")


def sla_due_at(spec: ModelSpec, queue: str, priority: float, created_at: datetime) -> datetime | None:
    """When this item breaches its SLA; None when no SLA applies to it."""
    if spec.sla is None or queue != spec.queue or priority < spec.sla.min_priority:
        return None
    return created_at + timedelta(minutes=spec.sla.minutes)


def page_overdue(ctx: AppContext) -> int:
    """Page once for every overdue high-risk pending item; returns how many pages were queued."""
    now = ctx.now()
    paged = 0
    for spec in ctx.registry.models():
        if spec.sla is None:
            continue
        cutoff = now - timedelta(minutes=spec.sla.minutes)
        with ctx.engine.begin() as conn:
            rows = conn.execute(
                select(items.c.id, items.c.priority, predictions.c.external_id, predictions.c.score,
                       predictions.c.id.label("prediction_id"))
                .join(predictions, predictions.c.id == items.c.prediction_id)
                .where(items.c.queue == spec.queue, items.c.status == ItemStatus.PENDING,
                       items.c.paged_at.is_(None), items.c.priority >= spec.sla.min_priority,
                       items.c.created_at < cutoff)
                .order_by(items.c.priority.desc()).limit(500)
            ).all()
            for row in rows:
                claimed = conn.execute(update(items).where(items.c.id == row.id, items.c.paged_at.is_(None))
                                       .values(paged_at=now)).rowcount
                if claimed != 1:
                    continue
                conn.execute(insert(outbox).values(**_page_action(spec, row, now)))
                paged += 1
    if paged:
        log.warning("SLA pages queued", extra={"action": "sla_paged", "count": paged})
    return paged


def _page_action(spec: ModelSpec, row: Any, now: datetime) -> dict[str, Any]:
    assert spec.sla is not None
    payload = {
        "model": spec.name, "external_id": row.external_id, "prediction_id": row.prediction_id,
        "item_id": row.id, "decision_id": None, "verdict": "sla_breach", "score": row.score,
        "source": "sla", "actor": "scheduler", "sla_minutes": spec.sla.minutes, "features": {}, "context": {},
    }
    return {
        "id": new_id(), "decision_id": None, "connector": "slack_message",
        "params": {"channel": spec.sla.channel, "text": PAGE_TEXT}, "payload": payload, "status": "pending",
        "attempts": 0, "outcome_unknown": False, "next_attempt_at": now, "created_at": now,
    }
