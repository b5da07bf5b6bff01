"""A reviewer's decision: audit row + label + item closed + one outbox row per action, in ONE commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from reviewqueue.db import queries
from reviewqueue.db.tables import Decision, Label, Prediction, ReviewItem
from reviewqueue.domain.states import DecisionSource, ItemStatus, LabelSource
from reviewqueue.errors import AlreadyDecided, LeaseLost, NotFound, ValidationFailed
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import action_payload, outbox, outbox_rows

log = logging.getLogger(__name__)
items = ReviewItem.__table__  # type: ignore[attr-defined]
predictions = Prediction.__table__  # type: ignore[attr-defined]
decisions = Decision.__table__  # type: ignore[attr-defined]
labels = Label.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DecisionResult:
    decision_id: int
    label_id: int
    item_id: int
    verdict: str
    action_ids: list[str]


def decide(
    ctx: AppContext, actor: Actor, item_id: int, verdict: str, lease_token: str, note: str = ""
) -> DecisionResult:
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationFailed("note: at most 2000 characters", field="note")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(
            select(items.c.queue, items.c.kind, items.c.status, predictions)
            .join(predictions, predictions.c.id == items.c.prediction_id)
            .where(items.c.id == item_id)
        ).first()
        if row is None:
            raise NotFound(f"item {item_id} not found", field="item_id")
        actor.require_queue(row.queue)
        spec = ctx.registry.model(row.model_name)
        if verdict not in spec.verdicts:
            raise ValidationFailed(f"verdict: {verdict!r} is not one of {list(spec.verdicts)}", field="verdict")
        if row.status == ItemStatus.DECIDED:
            raise AlreadyDecided(f"item {item_id} was already decided")
        if not queries.close_item_with_lease(conn, item_id, actor.id, lease_token, now):
            raise LeaseLost(f"item {item_id}: your lease expired or the item is held by someone else")
        prediction = _prediction_dict(row)
        decision_id = int(conn.execute(insert(decisions).values(
            prediction_id=prediction["id"], item_id=item_id,
            verdict=verdict, source=DecisionSource.REVIEWER, actor=actor.name, note=note, created_at=now,
        ).returning(decisions.c.id)).scalar_one())
        source = LabelSource.AUDIT if row.kind == "audit" else LabelSource.REVIEWER
        label_id = int(conn.execute(insert(labels).values(
            prediction_id=prediction["id"], model_name=spec.name, value=verdict, source=source, actor=actor.name,
            decision_id=decision_id, created_at=now,
        ).returning(labels.c.id)).scalar_one())
        payload = action_payload(spec=spec, prediction=prediction, verdict=verdict, source=source.value,
                                 actor=actor.name, item_id=item_id, decision_id=decision_id)
        actions = outbox_rows(spec, verdict, decision_id, payload, now)
        if actions:
            conn.execute(insert(outbox), actions)
    log.info("item decided", extra={"action": "item_decided", "item_id": item_id, "verdict": verdict,
                                    "actor": actor.name, "actions": len(actions)})
    return DecisionResult(decision_id, label_id, item_id, verdict, [a["id"] for a in actions])


def _prediction_dict(row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {
        "id": mapping[predictions.c.id], "external_id": mapping[predictions.c.external_id],
        "score": mapping[predictions.c.score], "features": mapping[predictions.c.features],
        "context": mapping[predictions.c.context],
    }
