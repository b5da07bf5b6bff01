"""What a verdict will do, said before the key is pressed (DESIGN invariant 11): each action, whether it may be
undone (a compensation) or not (irreversible), and the verdict's undo window — on the API's model description
and on each item, where the amounts are the event's ("Fraud — refunds $954.14, irreversible")."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from reviewqueue.registry import ActionSpec, ModelSpec
from reviewqueue.schemas import ActionEffect, VerdictEffects

__all__ = ["verdict_effects"]

_VERBS = {"stripe_refund": "refunds", "slack_message": "posts to Slack", "sql": "writes to the business database",
          "webhook": "sends a webhook"}


def _at(path: Any, event: Mapping[str, Any]) -> Any:
    value: Any = event
    for part in str(path).split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _summary(action: ActionSpec, event: Mapping[str, Any] | None) -> str:
    verb = _VERBS.get(action.connector, f"fires {action.connector}")
    if action.connector == "stripe_refund":
        amount = _at(action.params.get("amount"), event) if event is not None else None
        currency = _at(action.params.get("currency"), event) if event is not None else None
        if isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount):
            money = f"${amount:,.2f}" if str(currency or "usd").lower() == "usd" else \
                f"{amount:,.2f} {str(currency).upper()}"
            return f"refunds {money}"
        return "refunds the event's amount"
    if action.connector == "slack_message" and action.params.get("channel"):
        return f"posts to {action.params['channel']}"
    return verb


_STATEMENT = re.compile(r"^\s*(update|insert\s+into|delete\s+from)\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
_SQL_VERBS = {"update": "updates", "insert": "inserts into", "delete": "deletes from"}


def _detail(action: ActionSpec, event: Mapping[str, Any] | None) -> str:
    """The action on this event, with its target: "refunds $954.14 on ch_1", "updates users (user_id u7)"."""
    said = _summary(action, event)
    if event is None:
        return said
    if action.connector == "stripe_refund":
        charge = _at(action.params.get("charge"), event)
        return f"{said} on {charge}" if charge is not None else said
    if action.connector == "sql":
        statement = _STATEMENT.match(str(action.params.get("statement", "")))
        binds = action.params.get("bind") or {}
        values = [f"{name} {_at(path, event)}" for name, path in binds.items()
                  if "." in str(path) and _at(path, event) is not None]
        target = f"{_SQL_VERBS[statement.group(1).split()[0].lower()]} {statement.group(2)}" if statement else said
        return f"{target} ({', '.join(values)})" if values else target
    return said


def _preview(spec: ModelSpec, verdict: str, event: Mapping[str, Any] | None, needs: str) -> str:
    """One line for the verdict's button: every action with its target, which cannot be undone, the undo window
    (or that it fires at once), and four-eyes."""
    actions = spec.verdicts.get(verdict, [])
    if not actions:
        return " · ".join(["records the verdict only, nothing fires", *([needs] if needs else [])])
    said = ", ".join(_detail(a, event) + (" (irreversible)" if a.irreversible else "") for a in actions)
    window = spec.undo_window(verdict)
    when = f"undo within {window:g} s" if window > 0 else "fires at once"
    if not any(a.irreversible for a in actions):
        when += ", reversible later"
    return " · ".join([said, when, *([needs] if needs else [])])


def _reviewers(spec: ModelSpec, verdict: str, event: Mapping[str, Any] | None) -> tuple[int, str]:
    """How many agreeing reviewers the verdict needs on this event, and how its button says so ("" for one)."""
    rule = spec.four_eyes.get(verdict)
    if rule is None:
        return 1, ""
    if event is None:
        above = f" above {rule.above[0]} {rule.above[1]:,}" if rule.above else ""
        k = rule.reviewers
    else:
        above = ""
        k = spec.reviewers_required(verdict, event.get("features") or {}, event.get("context") or {})
    if k <= 1:
        return 1, ""
    return k, ("needs a second reviewer" if k == 2 else f"needs {k} agreeing reviewers") + above


def verdict_effects(spec: ModelSpec, event: Mapping[str, Any] | None = None) -> list[VerdictEffects]:
    """Per verdict: its actions, which are irreversible, its undo window and a one-line label for its button.
    ``event`` (``{"features": …, "context": …}``) fills in amounts; without it the label speaks generally."""
    out = []
    for verdict, actions in spec.verdicts.items():
        effects = [ActionEffect(connector=a.connector, automatic=a.rules.automatic, irreversible=a.irreversible,
                                compensation=a.compensation.connector if a.compensation else None,
                                summary=_summary(a, event)) for a in actions]
        irreversible = [e.summary for e in effects if e.irreversible]
        said = [", ".join(irreversible) + ", irreversible"] if irreversible else []
        reviewers, needs = _reviewers(spec, verdict, event)
        said += [needs] if needs else []
        label = verdict.capitalize() + (" — " + "; ".join(said) if said else "")
        out.append(VerdictEffects(verdict=verdict, undo_seconds=spec.undo_window(verdict), actions=effects,
                                  irreversible=bool(irreversible), label=label, reviewers=reviewers,
                                  preview=_preview(spec, verdict, event, needs)))
    return out
