"""Undo windows, reversals and audits: pure rules (DESIGN invariant 11).

A human decision's actions wait out the verdict's undo window: they are written with
``next_attempt_at = decided_at + window``, so the worker cannot take them before. Within it:

    may_undo(actor, d, now) ⇔ (actor decided d ∨ actor is admin) ∧ d neither undone nor reversed
                               ∧ now < d.undo_until
                               ∧ every action of d is still pending (else: too late — reverse it instead)

After it, ``reverse`` fires each delivered action's compensation (declared, or the connector's default: a Slack
follow-up, a ``decision.reversed`` webhook); an action with no compensation is declared irreversible and the UI
says so before the key is pressed. A human verdict on an automatic decision (an audit, or an item whose
automatic decision had human-only actions refused) fires only what the automatic decision did not: agreeing
fires its refused actions (nothing, for an audit); overturning compensates its delivered actions first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError

__all__ = ["MAX_UNDO_SECONDS", "REVERSED_EVENT", "change_refusal", "may_change", "undo_refusal", "undo_until",
           "undo_windows"]

MAX_UNDO_SECONDS = 24 * 3600.0  # a window longer than a day holds a refund longer than anybody would wait
REVERSED_EVENT = "decision.reversed"


def undo_windows(model: str, verdicts: Iterable[str], declared: float | Mapping[str, float] | None) -> dict[str, float]:
    """Validate a model's ``undo_seconds`` (one number for every verdict, or verdict → seconds; missing: 0) and
    return verdict → seconds; ConfigurationError names the fault."""
    names = list(verdicts)
    if declared is None:
        return dict.fromkeys(names, 0.0)
    if not isinstance(declared, Mapping):
        declared = dict.fromkeys(names, declared)
    unknown = sorted(set(declared) - set(names))
    if unknown:
        raise ConfigurationError(f"model {model!r}: undo_seconds names unknown verdict(s) {unknown}; "
                                 f"the verdicts are {names}")
    out: dict[str, float] = {}
    for verdict in names:
        value = declared.get(verdict, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not 0 <= value <= MAX_UNDO_SECONDS:
            raise ConfigurationError(f"model {model!r}: undo_seconds[{verdict!r}] must be a number of seconds "
                                     f"from 0 to {MAX_UNDO_SECONDS:g}, got {value!r}")
        out[verdict] = float(value)
    return out


def undo_until(decided_at: datetime, seconds: float) -> datetime:
    """When the undo window of a decision made at ``decided_at`` closes (= when its actions may be taken)."""
    return decided_at + timedelta(seconds=seconds)


def may_change(actor_name: str, actor_role: Role, decided_by: str) -> bool:
    """Only the person who made a decision, or an admin, may undo or reverse it."""
    return actor_name == decided_by or actor_role == Role.ADMIN


def change_refusal(*, source: str, undone_at: Any, reversed_at: Any) -> str | None:
    """Why this decision cannot be undone or reversed any more (None: it can): only a person's decision, once."""
    if source != "reviewer":
        return "only a person's decision can be undone or reversed; overturn an automatic one by deciding its item"
    if undone_at is not None:
        return "this decision was already undone"
    if reversed_at is not None:
        return "this decision was already reversed"
    return None


def undo_refusal(now: datetime, decided_at: datetime, window_end: datetime | None, delivered: int,
                 actions: int) -> str | None:
    """Why an undo comes too late (None: it may go ahead). The outbox rows are the arbiter: an undo wins only
    while every action is still pending (locked by the undo's transaction), so at the window's end exactly one
    of the worker (it took one) and the undo (it cancelled all) wins."""
    if window_end is None or window_end <= decided_at:
        return "too late: this verdict has no undo window; reverse it instead"
    if delivered:
        return f"too late: {delivered} action{'s' if delivered != 1 else ''} already delivered; reverse it instead"
    if actions == 0 and now >= window_end:
        return "too late: the undo window closed; reverse it instead"
    return None
