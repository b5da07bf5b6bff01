"""The payload every connector action receives: the event, the verdict and who or what decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reviewqueue.db.tables import new_id
from reviewqueue.domain.states import ActionStatus
from reviewqueue.domain.undo import REVERSED_EVENT
from reviewqueue.registry import ActionSpec, ModelSpec


def action_payload(
    *, spec: ModelSpec, prediction: dict[str, Any], verdict: str, source: str, actor: str,
    item_id: int | None, decision_id: int,
) -> dict[str, Any]:
    return {
        "model": spec.name,
        "external_id": prediction["external_id"],
        "prediction_id": prediction["id"],
        "item_id": item_id,
        "decision_id": decision_id,
        "verdict": verdict,
        "score": prediction["score"],
        "source": source,
        "actor": actor,
        "features": prediction["features"],
        "context": prediction["context"],
    }


def outbox_rows(
    spec: ModelSpec, verdict: str, decision_id: int, payload: dict[str, Any], now: Any,
    refused: Mapping[int, str] | None = None, not_before: Any = None, skip: frozenset[int] = frozenset(),
) -> list[dict]:
    """One outbox row per action of the verdict; ids are fresh and become the providers' idempotency keys.
    ``refused`` (action index → reason) are written refused, with the reason as their last error: visible, never
    fired (services.authority). ``not_before``: when the worker may take them (a person's undo window; default
    ``now``); ``skip``: action indexes not to write (an automatic decision already fired them)."""
    refused = refused or {}
    return [
        {
            "id": new_id(), "decision_id": decision_id, "connector": a.connector, "params": dict(a.params),
            "payload": payload, "status": ActionStatus.REFUSED.value if i in refused else ActionStatus.PENDING.value,
            "attempts": 0, "outcome_unknown": False, "last_error": refused.get(i),
            "next_attempt_at": now if not_before is None else not_before, "created_at": now, "compensates": None,
        }
        for i, a in enumerate(spec.actions_for(verdict)) if i not in skip
    ]


def compensation_row(
    compensation: ActionSpec, decision_id: int, original_id: str, payload: dict[str, Any], *, reversed_by: str,
    reason: str, now: Any, not_before: Any,
) -> dict[str, Any]:
    """The outbox row that undoes a delivered action: the compensation's connector and parameters, the original
    payload marked ``event: decision.reversed`` with who reversed it and why (a webhook receiver and a Slack
    template read these), linked to the original by ``compensates``."""
    marked = {**payload, "event": REVERSED_EVENT, "compensates": original_id, "reversed_by": reversed_by,
              "reason": reason}
    return {
        "id": new_id(), "decision_id": decision_id, "connector": compensation.connector,
        "params": dict(compensation.params), "payload": marked, "status": ActionStatus.PENDING.value,
        "attempts": 0, "outcome_unknown": False, "last_error": None, "next_attempt_at": not_before,
        "created_at": now, "compensates": original_id,
    }
