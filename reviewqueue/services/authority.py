"""Which of an ingest batch's automatic decisions may fire their actions (domain.authority), and which go to a
human instead.

An automatic decision still records its decision and fires the actions it may (a Slack alert, a webhook);
each action it may not fire — human-only, or beyond its ``max_amount`` / ``daily_total`` — is written
``refused`` with the reason as its last error, and the prediction becomes a review item, selected with
certainty (π = 1). The reviewer's verdict then fires its actions like any human decision. Nothing is dropped
silently: the refusal is in the actions list, the item is in the queue.

``daily_total`` counts the amounts of the day's (UTC) unrefused automatic actions of the model on the same
connector, read inside the ingest transaction, plus those allowed earlier in the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from connectors.base import resolve_param
from reviewqueue.db import decisions
from reviewqueue.domain.policies import Route
from reviewqueue.domain.sampling import start_of_utc_day
from reviewqueue.registry import ModelSpec

__all__ = ["refusals"]


def refusals(
    conn: Connection, spec: ModelSpec, rows: Sequence[dict[str, Any]], now: datetime
) -> dict[str, dict[int, str]]:
    """external_id → {index of the action in its verdict: why an automatic decision may not fire it}, for the
    batch's auto-routed rows, in batch order (an action allowed earlier in the batch counts toward the day)."""
    refused: dict[str, dict[int, str]] = {}
    spent: dict[str, float] = {}
    verdict_of = {Route.AUTO_FLAG.value: spec.positive_verdict, Route.AUTO_PASS.value: spec.negative_verdict}
    for row in rows:
        verdict = verdict_of.get(row["route"])
        if verdict is None:
            continue
        event = {"model": spec.name, "external_id": row["external_id"], "verdict": verdict, "score": row["score"],
                 "features": row["features"], "context": row["context"]}
        for i, action in enumerate(spec.actions_for(verdict)):
            rules = action.rules
            amount = _amount(action.params.get("amount"), event) if rules.limited else None
            if rules.daily_total is not None and action.connector not in spent:
                spent[action.connector] = decisions.automatic_amount_since(
                    conn, spec.name, action.connector, str(action.params["amount"]).split("."),
                    start_of_utc_day(now))
            reason = rules.refusal(action.connector, amount, spent.get(action.connector, 0.0))
            if reason is not None:
                refused.setdefault(row["external_id"], {})[i] = reason
            elif rules.daily_total is not None:
                spent[action.connector] += float(amount or 0)
    return refused


def _amount(path: Any, event: dict[str, Any]) -> Any:
    try:
        return resolve_param(event, path) if isinstance(path, str) else None
    except KeyError:
        return None
