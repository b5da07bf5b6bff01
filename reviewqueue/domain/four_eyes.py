"""Four-eyes and adjudication: pure rules.

A verdict may need ``k`` agreeing reviewers before it acts (``rq.model(..., four_eyes={"fraud":
rq.FourEyes(reviewers=2, above=("amount", 500))})``), always or only when a numeric feature/context field of the
event is above an amount:

    required(verdict, event) = k   if verdict declares FourEyes(k, above=(field, x)) ∧ (no ``above`` ∨ event[field] > x
                                                                                       ∨ event[field] not a number)
                             = 1   otherwise (one click decides)

A reviewer's verdict on an item, given the open votes of this round (``votes``: who voted what, in order):

    tally = REFUSED       if the reviewer already voted in this round (never counted twice)
          = FINAL         if the item waits in the escalation queue (a senior adjudicates, once)
          = DISAGREE      if some vote names another verdict (→ the escalation queue, votes kept)
          = DECIDE        if 1 + |votes| ≥ required(verdict, event)
          = VOTE          otherwise (recorded; nothing fires; the item returns to its queue for someone else)

A missing or non-numeric amount needs the reviewers (fail closed). The rule is checked at import: the verdict
exists, ``reviewers`` is an integer 2-10, ``above`` names a numeric feature (float or int) or a context field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reviewqueue.errors import ConfigurationError

__all__ = ["MAX_REVIEWERS", "FourEyes", "Tally", "four_eyes_rules", "required_reviewers", "tally"]

MAX_REVIEWERS = 10


@dataclass(frozen=True)
class FourEyes:
    """``reviewers`` agreeing people decide the verdict; ``above=(field, amount)``: only when the event's numeric
    feature or context field is above ``amount``."""

    reviewers: int = 2
    above: tuple[str, float] | None = None


class Tally(StrEnum):
    REFUSED = "refused"
    FINAL = "final"
    DISAGREE = "adjudication"
    DECIDE = "decided"
    VOTE = "vote"


def four_eyes_rules(model: str, verdicts: Iterable[str], numeric_features: Iterable[str],
                    other_features: Iterable[str], context_fields: Iterable[str],
                    declared: Mapping[str, FourEyes] | None) -> dict[str, FourEyes]:
    """Validate a model's ``four_eyes`` (verdict → FourEyes) and return it; ConfigurationError names the fault."""
    if declared is None:
        return {}
    where = f"model {model!r}: four_eyes"
    if not isinstance(declared, Mapping):
        raise ConfigurationError(f"{where} must map verdicts to rq.FourEyes(...), got {declared!r}")
    names, numeric, others, context = list(verdicts), set(numeric_features), set(other_features), set(context_fields)
    out: dict[str, FourEyes] = {}
    for verdict, rule in declared.items():
        if verdict not in names:
            raise ConfigurationError(f"{where}: {verdict!r} is not one of its verdicts {names}")
        if not isinstance(rule, FourEyes):
            raise ConfigurationError(f"{where}[{verdict!r}] must be rq.FourEyes(...), got {rule!r}")
        k = rule.reviewers
        if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_REVIEWERS:
            raise ConfigurationError(f"{where}[{verdict!r}]: reviewers must be an integer from 2 to "
                                     f"{MAX_REVIEWERS} (one reviewer needs no rule), got {k!r}")
        if rule.above is not None:
            if not isinstance(rule.above, tuple) or len(rule.above) != 2:
                raise ConfigurationError(f"{where}[{verdict!r}]: above must be (field, amount), got {rule.above!r}")
            field, amount = rule.above
            if field in others:
                raise ConfigurationError(f"{where}[{verdict!r}]: above names feature {field!r}, which is not "
                                         "numeric (declare it float or int)")
            if field not in numeric and field not in context:
                raise ConfigurationError(f"{where}[{verdict!r}]: above names {field!r}, which is neither a feature "
                                         f"nor a context field")
            if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
                raise ConfigurationError(f"{where}[{verdict!r}]: above's amount must be a finite number, "
                                         f"got {amount!r}")
        out[verdict] = rule
    return out


def required_reviewers(rule: FourEyes | None, features: Mapping[str, Any], context: Mapping[str, Any]) -> int:
    """How many agreeing reviewers this event's verdict needs (1: one click decides)."""
    if rule is None:
        return 1
    if rule.above is None:
        return rule.reviewers
    field, amount = rule.above
    value = features[field] if field in features else context.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return rule.reviewers  # unknown amount: fail closed
    return rule.reviewers if value > amount else 1


def tally(votes: Sequence[tuple[int, str]], reviewer_id: int, verdict: str, required: int,
          adjudicating: bool) -> Tally:
    """What one reviewer's ``verdict`` does, given this round's earlier ``votes`` (reviewer id, verdict)."""
    if any(voter == reviewer_id for voter, _ in votes):
        return Tally.REFUSED
    if adjudicating:
        return Tally.FINAL
    if any(voted != verdict for _, voted in votes):
        return Tally.DISAGREE
    return Tally.DECIDE if 1 + len(votes) >= required else Tally.VOTE
