"""Deep links (`/?item=ID`, e.g. Slack's "Open in reviewqueue"): open one item for the person who followed it.

Pending on a queue they review: claimed for them through the one claim path (``queue.claim_item``). Otherwise
shown read-only, with why, and its standing decision when it has one. An item on a queue they may not read is
answered 404 exactly like an unknown id, so a link never tells anyone what exists on other queues.
"""

from __future__ import annotations

from reviewqueue.db import decisions, items
from reviewqueue.domain.permissions import Actor, Permission, allowed
from reviewqueue.domain.states import ItemStatus
from reviewqueue.errors import Conflict, NotFound
from reviewqueue.schemas import OpenedItem
from reviewqueue.services import queue
from reviewqueue.services.context import AppContext

__all__ = ["open_item"]


def open_item(ctx: AppContext, actor: Actor, item_id: int) -> OpenedItem:
    """The item, leased to the actor when they may claim it now, else read-only with the reason."""
    with ctx.read() as conn:
        target = items.decision_target(conn, item_id)
    if target is None or not allowed(actor, Permission.ITEMS_READ, target.queue):
        raise NotFound(f"item {item_id} not found", field="item_id")
    reason = None
    if not allowed(actor, Permission.ITEMS_REVIEW, target.queue):
        reason = f"you may read queue {target.queue!r} but not review it"
    elif target.status in (ItemStatus.PENDING, ItemStatus.CLAIMED):
        try:
            return OpenedItem(item=queue.claim_item(ctx, actor, item_id), leased=True, read_only_reason=None,
                              decision=None)
        except Conflict as exc:  # decided or taken meanwhile, held by another, or yours to skip a while
            reason = exc.message.split(": ", 1)[-1]
    shown = queue.item_view(ctx, actor, item_id)
    with ctx.read() as conn:
        standing = decisions.standing_decision(conn, shown.prediction_id) \
            if shown.status == ItemStatus.DECIDED else None
    if reason is None:
        reason = "it is already decided" if standing is not None else f"it is {shown.status}"
    return OpenedItem(item=shown, leased=False, read_only_reason=reason, decision=standing)
