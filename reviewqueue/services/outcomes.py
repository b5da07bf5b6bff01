"""Outcomes: what really happened to scored events, from any system, as labels that outrank reviewer verdicts.

``POST /v1/models/{name}/outcomes`` (or the same body as a signed webhook) names each event by ``external_id``
or by the model's correlation key. Each outcome is stored once per (model, source, event_id) in
``inbound_events`` — a re-sent one is a no-op — and labels the prediction it matches, with the probability it
was observed as the label's selection probability. An outcome for an unknown event is kept, unmatched.
Stripe disputes (services.feedback) are one more source and write their labels through ``label_prediction``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from reviewqueue.db import events, labels, predictions
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.states import LabelSource
from reviewqueue.errors import ValidationFailed
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import OutcomeIn, OutcomeOut
from reviewqueue.services.context import AppContext

__all__ = ["label_prediction", "parse_outcomes", "record_outcomes"]
log = logging.getLogger(__name__)


def record_outcomes(ctx: AppContext, actor: Actor, model_name: str, outcomes: list[OutcomeIn]) -> list[OutcomeOut]:
    """Validate the whole batch, then store and apply it in one commit; answers one OutcomeOut per outcome."""
    authorize(actor, Permission.OUTCOMES_WRITE)
    spec = ctx.registry.model(model_name)
    _validate(spec, outcomes)
    try:
        return _record_once(ctx, spec, outcomes)
    except IntegrityError:  # a concurrent request stored one of the same event ids first: now a duplicate
        log.info("outcome raced on its event id; retrying", extra={"action": "outcome_retry", "model": model_name})
        return _record_once(ctx, spec, outcomes)


def _validate(spec: ModelSpec, outcomes: list[OutcomeIn]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, outcome in enumerate(outcomes):
        where = f"outcomes[{i}]"
        if outcome.label not in spec.verdicts:
            raise ValidationFailed(f"{where}.label: {outcome.label!r} is not one of {list(spec.verdicts)}",
                                   field=f"{where}.label")
        if outcome.correlation_key is not None and not spec.correlation_field:
            raise ValidationFailed(f"{where}.correlation_key: model {spec.name!r} declares no correlation field; "
                                   "send external_id", field=f"{where}.correlation_key")
        if outcome.occurred_at is not None and outcome.occurred_at.tzinfo is None:
            raise ValidationFailed(f"{where}.occurred_at: needs a timezone (e.g. 2026-11-30T12:00:00Z)",
                                   field=f"{where}.occurred_at")
        key = (outcome.source, outcome.event_id)
        if key in seen:
            raise ValidationFailed(f"{where}.event_id: {outcome.event_id!r} appears twice in this batch",
                                   field=f"{where}.event_id")
        seen.add(key)


def _record_once(ctx: AppContext, spec: ModelSpec, outcomes: list[OutcomeIn]) -> list[OutcomeOut]:
    now = ctx.now()
    results = []
    with ctx.engine.begin() as conn:
        for outcome in outcomes:
            provider = f"outcome:{spec.name}:{outcome.source}"
            if events.event_seen(conn, provider, outcome.event_id):
                results.append(OutcomeOut(event_id=outcome.event_id, duplicate=True, matched=False))
                continue
            event_row = events.insert_event(conn, provider, outcome.event_id, "outcome",
                                            outcome.model_dump(mode="json"), now)
            prediction_id = _find_prediction(conn, spec, outcome)
            label_id = None
            if prediction_id is not None:
                label_id = label_prediction(
                    conn, spec, prediction_id, outcome.label, LabelSource.OUTCOME,
                    actor=f"{outcome.source}:{outcome.event_id}"[:120], event_row_id=event_row,
                    occurred_at=outcome.occurred_at or now, observed_probability=outcome.observed_probability)
            events.set_event_outcome(conn, event_row, f"labelled prediction {prediction_id}" if label_id
                                     else "no prediction matched")
            results.append(OutcomeOut(event_id=outcome.event_id, duplicate=False, matched=label_id is not None,
                                      prediction_id=prediction_id, label_id=label_id))
    log.info("outcomes recorded", extra={"action": "outcomes_recorded", "model": spec.name,
                                         "matched": sum(r.matched for r in results), "count": len(results)})
    return results


def _find_prediction(conn: Connection, spec: ModelSpec, outcome: OutcomeIn) -> int | None:
    if outcome.external_id is not None:
        found = predictions.stored_predictions(conn, spec.name, [outcome.external_id])
        return found[outcome.external_id].id if found else None
    assert outcome.correlation_key is not None
    return predictions.prediction_by_correlation_key(conn, spec.name, outcome.correlation_key)


def label_prediction(conn: Connection, spec: ModelSpec, prediction_id: int, value: str, source: LabelSource, *,
                     actor: str, event_row_id: int, occurred_at: datetime, observed_probability: float) -> int:
    """Write an outcome's label: dated when it happened (the latest fact wins), weighted by 1/observed."""
    return labels.insert_label(
        conn, prediction_id=prediction_id, model_name=spec.name, value=value, source=source, actor=actor,
        inbound_event_id=event_row_id, created_at=occurred_at, selection_probability=observed_probability,
    )


def parse_outcomes(payload: object) -> list[OutcomeIn]:
    """A signed webhook's body as the outcomes API's request; a bad one is a 422 naming the field."""
    from pydantic import ValidationError

    from reviewqueue.schemas import OutcomesRequest

    try:
        return OutcomesRequest.model_validate(payload).outcomes
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"]).replace(".[", "[")
        raise ValidationFailed(f"{field or 'body'}: {first['msg']}", field=field or "body") from None
