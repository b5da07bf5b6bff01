"""The payload every connector action receives: the event, the verdict and who or what decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reviewqueue.db.tables import new_id
from reviewqueue.domain.states import ActionStatus
from reviewqueue.registry import ModelSpec


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
    refused: Mapping[int, str] | None = None,
) -> list[dict]:
    """One outbox row per action of the verdict; ids are fresh and become the providers' idempotency keys.
    ``refused`` (action index → reason) are written refused, with the reason as their last error: visible, never
    fired (services.authority)."""
    refused = refused or {}
    return [
        {
            "id": new_id(), "decision_id": decision_id, "connector": a.connector, "params": dict(a.params),
            "payload": payload, "status": ActionStatus.REFUSED.value if i in refused else ActionStatus.PENDING.value,
            "attempts": 0, "outcome_unknown": False, "last_error": refused.get(i), "next_attempt_at": now,
            "created_at": now,
        }
        for i, a in enumerate(spec.actions_for(verdict))
    ]
