"""A reviewer's decision: audit row + label + item closed + one outbox row per action, in ONE commit.

Its actions wait out the verdict's undo window (``next_attempt_at = decided_at + window``, services.undo); on a
prediction the model decided (an audit), agreeing fires nothing twice and overturning compensates first."""

from __future__ import annotations

import logging

from reviewqueue.db import decisions, items, labels, outbox
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.states import DecisionSource, ItemStatus, LabelSource
from reviewqueue.domain.undo import undo_until
from reviewqueue.errors import AlreadyDecided, LeaseLost, NotFound, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.schemas import DecisionOut
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import action_payload, outbox_rows
from reviewqueue.services.undo import against_automatic

log = logging.getLogger(__name__)


def decide(
    ctx: AppContext, actor: Actor, item_id: int, verdict: str, lease_token: str, note: str = ""
) -> DecisionOut:
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationFailed("note: at most 2000 characters", field="note")
    check_storable(note, "note")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        target = items.decision_target(conn, item_id)
        if target is None:
            raise NotFound(f"item {item_id} not found", field="item_id")
        authorize(actor, Permission.ITEMS_REVIEW, target.queue)
        spec = ctx.registry.model(target.model_name)
        if verdict not in spec.verdicts:
            raise ValidationFailed(f"verdict: {verdict!r} is not one of {list(spec.verdicts)}", field="verdict")
        if target.status == ItemStatus.DECIDED:
            raise AlreadyDecided(f"item {item_id} was already decided")
        if not items.close_item_with_lease(conn, item_id, actor.id, lease_token, now):
            raise LeaseLost(f"item {item_id}: your lease expired or the item is held by someone else")
        window = spec.undo_window(verdict)
        not_before = undo_until(now, window)
        decision_id = decisions.insert_decision(
            conn, prediction_id=target.prediction_id, item_id=item_id, verdict=verdict,
            source=DecisionSource.REVIEWER, actor=actor.name, note=note, created_at=now, undo_until=not_before,
        )
        source = LabelSource.AUDIT if target.kind == "audit" else LabelSource.REVIEWER
        label_id = labels.insert_label(
            conn, prediction_id=target.prediction_id, model_name=spec.name, value=verdict, source=source,
            actor=actor.name, decision_id=decision_id, created_at=now,
            # the chance this verdict was asked for at all; evaluation weights the label by its inverse
            selection_probability=target.selection_probability,
        )
        prediction = {"id": target.prediction_id, "external_id": target.external_id, "score": target.score,
                      "features": target.features, "context": target.context}
        payload = action_payload(spec=spec, prediction=prediction, verdict=verdict, source=source.value,
                                 actor=actor.name, item_id=item_id, decision_id=decision_id)
        skip, compensations = against_automatic(conn, spec, target.prediction_id, verdict, decision_id,
                                                 actor.name, now, not_before)
        actions = compensations + outbox_rows(spec, verdict, decision_id, payload, now, not_before=not_before,
                                              skip=skip)
        outbox.insert_actions(conn, actions)
    log.info("item decided", extra={"action": "item_decided", "item_id": item_id, "verdict": verdict,
                                    "actor": actor.name, "actions": len(actions)})
    return DecisionOut(decision_id=decision_id, label_id=label_id, item_id=item_id, verdict=verdict,
                       action_ids=[a["id"] for a in actions], undo_until=not_before if window > 0 else None)
