"""What a reviewer sees besides the item: the same subject's other predictions (the model's declared history
key, e.g. the customer's user_id) and the reviewer's own recent decisions. Reads scoped like writes: a reviewer
sees only items of queues they may read, and a model's automatic decisions only if they may read its queue."""

from __future__ import annotations

from reviewqueue.db import decisions, items, predictions
from reviewqueue.domain.permissions import Actor, Permission, allowed, authorize, queue_scope
from reviewqueue.errors import NotFound, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.schemas import MyDecisionOut, SubjectHistory
from reviewqueue.services.context import AppContext

__all__ = ["HISTORY_LIMIT", "my_decisions", "subject_history"]

HISTORY_LIMIT = 20  # the default; an API caller may ask for up to 100


def subject_history(ctx: AppContext, actor: Actor, item_id: int, limit: int = HISTORY_LIMIT) -> SubjectHistory:
    """The other predictions of the item's subject, newest first, each with its standing decision and who made
    it. Empty when the model declares no history key or the event did not carry it. 404 for an unknown item and
    for one on a queue the actor may not read (its existence is not told)."""
    authorize(actor, Permission.ITEMS_READ)
    with ctx.read() as conn:
        target = items.decision_target(conn, item_id)
        if target is None or not allowed(actor, Permission.ITEMS_READ, target.queue):
            raise NotFound(f"item {item_id} not found", field="item_id")
        spec = ctx.registry.model(target.model_name)
        key = spec.history_key
        value = target.context.get(key) if key else None
        if value is None:
            return SubjectHistory(item_id=item_id, key=key, subject=None, entries=[], limit=limit)
        subject = str(value)[:200]
        scope = queue_scope(actor, Permission.ITEMS_READ)
        entries = predictions.subject_history(conn, spec.name, subject, target.prediction_id, scope,
                                              allowed(actor, Permission.ITEMS_READ, spec.queue), limit)
    labelled = [e.model_copy(update={"route_label": spec.route_label(e.route)}) for e in entries]
    return SubjectHistory(item_id=item_id, key=key, subject=subject, entries=labelled, limit=limit)


def my_decisions(ctx: AppContext, actor: Actor, external_id: str | None, before_id: int | None,
                 limit: int) -> list[MyDecisionOut]:
    """The actor's own verdicts, newest first, keyset-paged (``before_id``), optionally those whose external id
    starts with ``external_id``; only on queues they may still read."""
    authorize(actor, Permission.ITEMS_REVIEW)
    prefix = (external_id or "").strip() or None
    if prefix is not None:
        if len(prefix) > 200:
            raise ValidationFailed("external_id: at most 200 characters", field="external_id")
        check_storable(prefix, "external_id")
    with ctx.read() as conn:
        return decisions.decisions_by_actor(conn, actor.name, prefix, queue_scope(actor, Permission.ITEMS_READ),
                                            before_id, limit)
