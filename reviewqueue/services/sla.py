"""SLA pages: a high-risk item unclaimed past its model's SLA pages the on-call channel — once.

The page is an outbox action (a Slack message), so it is delivered, retried and dead-lettered like any
other effect; ``review_items.paged_at`` is set in the same commit by a conditional UPDATE, so two
schedulers racing, or a rerun, never page twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from reviewqueue.db import items, outbox
from reviewqueue.db.items import OverdueItem
from reviewqueue.db.tables import new_id
from reviewqueue.registry import ModelSpec
from reviewqueue.services.context import AppContext

log = logging.getLogger(__name__)
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
            pages = [_page_action(spec, row, now)
                     for row in items.overdue_unpaged(conn, spec.queue, spec.sla.min_priority, cutoff, limit=500)
                     if items.mark_paged(conn, row.id, now)]
            outbox.insert_actions(conn, pages)
            paged += len(pages)
    if paged:
        log.warning("SLA pages queued", extra={"action": "sla_paged", "count": paged})
    return paged


def _page_action(spec: ModelSpec, row: OverdueItem, now: datetime) -> dict[str, Any]:
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
