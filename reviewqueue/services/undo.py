"""Undo, reverse and overturn (domain.undo): a person's decision can be undone while its actions wait, reversed
after (each delivered action's compensation fires), and a person's verdict on an automatic decision fires only
what the automatic decision did not — compensating its delivered actions when it overturns it. One commit each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from reviewqueue.db import decisions, items, labels, outbox
from reviewqueue.db.outbox import DecisionAction
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.states import ActionStatus
from reviewqueue.domain.undo import change_refusal, may_change, undo_refusal
from reviewqueue.errors import Conflict, Forbidden, NotFound, TooLate, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.registry import ActionSpec, ModelSpec
from reviewqueue.schemas import DecisionChangeOut
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import compensation_row

__all__ = ["against_automatic", "reverse", "undo"]

log = logging.getLogger(__name__)

# An action in effect: it fired, will fire, or may have (dead after an unknown outcome), and nothing undid it.
_LIVE = frozenset({ActionStatus.PENDING, ActionStatus.IN_FLIGHT, ActionStatus.DONE, ActionStatus.DEAD})
_NOT_TAKEN = frozenset({ActionStatus.PENDING, ActionStatus.CANCELLED, ActionStatus.REFUSED})


def _declared(specs: Sequence[ActionSpec], row: DecisionAction) -> ActionSpec | None:
    """The declaration an outbox row was written from (same connector and parameters), if it still exists."""
    return next((a for a in specs if a.connector == row.connector and dict(a.params) == row.params), None)


def _compensations(rows: Sequence[DecisionAction], specs: Sequence[ActionSpec], decision_id: int, *, by: str,
                   reason: str, now: datetime, not_before: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """Compensation rows for the delivered rows, and the ids of those nothing can undo (declared irreversible)."""
    comps: list[dict[str, Any]] = []
    irreversible: list[str] = []
    for row in rows:
        declared = _declared(specs, row)
        compensation = declared.compensation if declared is not None else None
        if compensation is None:
            irreversible.append(row.id)
            continue
        comps.append(compensation_row(compensation, decision_id, row.id, row.payload, reversed_by=by, reason=reason,
                                      now=now, not_before=not_before))
    return comps, irreversible


def against_automatic(conn: Connection, spec: ModelSpec, prediction_id: int, verdict: str, decision_id: int,
                      actor: str, now: datetime, not_before: datetime) -> tuple[frozenset[int], list[dict[str, Any]]]:
    """A person's verdict on a prediction the model decided (an audit; an auto-decision with refused actions):
    which of the verdict's actions not to write (agreeing: those the automatic decision has in effect), and the
    compensations of its delivered actions (overturning), which wait out the person's undo window too."""
    automatic = decisions.automatic_decision_of(conn, prediction_id)
    if automatic is None:
        return frozenset(), []
    auto_id, auto_verdict = automatic
    rows = outbox.lock_decision_actions(conn, auto_id)
    done = [r.id for r in rows if r.status == ActionStatus.DONE]
    compensated = outbox.compensated_actions(conn, done)
    live = [r for r in rows if r.status in _LIVE and r.id not in compensated and r.compensates is None]
    if verdict == auto_verdict:
        skip: set[int] = set()
        matched: set[str] = set()
        for i, declared in enumerate(spec.actions_for(verdict)):
            row = next((r for r in live if r.id not in matched and r.connector == declared.connector
                        and r.params == dict(declared.params)), None)
            if row is not None:
                skip.add(i)
                matched.add(row.id)
        return frozenset(skip), []
    in_flight = [r.id for r in live if r.status == ActionStatus.IN_FLIGHT]
    if in_flight:
        raise Conflict(f"the automatic decision's actions are being delivered right now ({len(in_flight)}); "
                       "decide again in a moment", field="verdict")
    outbox.cancel_pending_actions(conn, [r.id for r in live if r.status == ActionStatus.PENDING], now,
                                  by_decision=decision_id)
    delivered = [r for r in live if r.status == ActionStatus.DONE]
    comps, _irreversible = _compensations(delivered, spec.actions_for(auto_verdict), decision_id, by=actor,
                                          reason=f"overturned by {actor}: {verdict}", now=now, not_before=not_before)
    return frozenset(), comps


def _load(conn: Connection, actor: Actor, decision_id: int) -> decisions.DecisionRow:
    decision = decisions.get_decision(conn, decision_id, lock=True)
    if decision is None:
        raise NotFound(f"decision {decision_id} not found", field="decision_id")
    if decision.queue is not None:
        authorize(actor, Permission.DECISIONS_UNDO, decision.queue)
    if not may_change(actor.name, actor.role, decision.actor):
        raise Forbidden(f"only {decision.actor!r}, who made decision {decision_id}, or an admin may change it")
    refusal = change_refusal(source=decision.source, undone_at=decision.undone_at,
                             reversed_at=decision.reversed_at)
    if refusal:
        raise Conflict(refusal, field="decision_id")
    return decision


def _withdraw(conn: Connection, decision: decisions.DecisionRow, now: datetime) -> None:
    """Labels follow the final decision: this one's no longer counts, and its item waits for a new one."""
    labels.withdraw_labels(conn, decision.id, now)
    if decision.item_id is not None:
        items.reopen_item(conn, decision.item_id)


def _restore_overturned(conn: Connection, decision: decisions.DecisionRow, now: datetime) -> list[str]:
    """Undoing an overturn undoes its cancellations too: the automatic decision's actions it cancelled while they
    were still pending are pending again (due now), as if it had never been made. (Its delivered ones were
    never cancelled: the overturn's compensations of them are cancelled with the rest of its actions.)"""
    automatic = decisions.automatic_decision_of(conn, decision.prediction_id)
    if automatic is None:
        return []
    return outbox.restore_cancelled_actions(conn, automatic[0], decision.id, now)


def undo(ctx: AppContext, actor: Actor, decision_id: int) -> DecisionChangeOut:
    """Within the undo window: cancel every action (all still pending, or refuse: too late), withdraw the label,
    put the item back in its queue. One commit, with the audit entry."""
    authorize(actor, Permission.DECISIONS_UNDO)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        decision = _load(conn, actor, decision_id)
        rows = outbox.lock_decision_actions(conn, decision_id)
        delivered = sum(1 for r in rows if r.status not in _NOT_TAKEN)
        refusal = undo_refusal(now, decision.created_at, decision.undo_until, delivered, len(rows))
        if refusal:
            raise TooLate(refusal, field="decision_id")
        pending = [r.id for r in rows if r.status == ActionStatus.PENDING]
        outbox.cancel_pending_actions(conn, pending, now)
        restored = _restore_overturned(conn, decision, now)
        decisions.mark_undone(conn, decision_id, actor.name, now)
        _withdraw(conn, decision, now)
        audit.record(ctx, conn, actor, "decision.undo", f"decision:{decision_id}",
                     {"item_id": decision.item_id, "verdict": decision.verdict, "decided_by": decision.actor,
                      "cancelled": pending, "restored": restored})
    log.info("decision undone", extra={"action": "decision_undone", "decision_id": decision_id,
                                       "actor": actor.name, "cancelled": len(pending), "restored": len(restored)})
    return DecisionChangeOut(decision_id=decision_id, item_id=decision.item_id, verdict=decision.verdict,
                             change="undone", at=now, by=actor.name, cancelled_action_ids=pending,
                             compensation_action_ids=[], irreversible_action_ids=[])


def reverse(ctx: AppContext, actor: Actor, decision_id: int, reason: str) -> DecisionChangeOut:
    """After the window: cancel what still waits, fire each delivered action's compensation (now), withdraw the
    label, put the item back in its queue. Refused (409) while one of its actions is being delivered."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise ValidationFailed("reason: say why, in 1 to 2000 characters", field="reason")
    check_storable(reason, "reason")
    authorize(actor, Permission.DECISIONS_UNDO)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        decision = _load(conn, actor, decision_id)
        spec = ctx.registry.model(decision.model_name)
        rows = outbox.lock_decision_actions(conn, decision_id)
        in_flight = [r.id for r in rows if r.status == ActionStatus.IN_FLIGHT]
        if in_flight:
            raise Conflict(f"{len(in_flight)} of its actions are being delivered right now; reverse it again in a "
                           "moment", field="decision_id")
        pending = [r.id for r in rows if r.status == ActionStatus.PENDING]
        outbox.cancel_pending_actions(conn, pending, now)
        compensated = outbox.compensated_actions(conn, [r.id for r in rows])
        delivered = [r for r in rows if r.status == ActionStatus.DONE and r.compensates is None
                     and r.id not in compensated]
        comps, irreversible = _compensations(delivered, spec.actions_for(decision.verdict), decision_id,
                                             by=actor.name, reason=reason, now=now, not_before=now)
        outbox.insert_actions(conn, comps)
        decisions.mark_reversed(conn, decision_id, actor.name, now, reason)
        _withdraw(conn, decision, now)
        audit.record(ctx, conn, actor, "decision.reverse", f"decision:{decision_id}",
                     {"item_id": decision.item_id, "verdict": decision.verdict, "decided_by": decision.actor,
                      "reason": reason, "cancelled": pending, "compensations": [c["id"] for c in comps],
                      "irreversible": irreversible})
    log.info("decision reversed", extra={"action": "decision_reversed", "decision_id": decision_id,
                                         "actor": actor.name, "compensations": len(comps)})
    return DecisionChangeOut(decision_id=decision_id, item_id=decision.item_id, verdict=decision.verdict,
                             change="reversed", at=now, by=actor.name, cancelled_action_ids=pending,
                             compensation_action_ids=[c["id"] for c in comps], irreversible_action_ids=irreversible)
