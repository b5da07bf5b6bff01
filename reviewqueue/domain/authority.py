"""Action authority: which actions an automatic decision may fire, and within which limits (invariant 11).

A model's decision is automatic when the routing policy was confident (auto_flag / auto_pass); nobody looked.
Each action declares whether such a decision may fire it (``rq.action(..., automatic=…)``). Irreversible
effects on money or accounts default to human-only; notifications default to allowed:

    automatic default:  stripe_refund → False,  sql → False,  slack_message → True,  webhook → True,
                        any other connector → False

An action declared ``automatic=True`` may carry limits on the amount it moves (the event's amount, read from
the action's ``amount`` path):

    allowed(a, spent) ⇔ automatic
                        ∧ (max_amount is None  ∨ a ≤ max_amount)
                        ∧ (daily_total is None ∨ spent + a ≤ daily_total)

where ``spent`` is what automatic decisions of the same model already committed to this connector since the
start of the UTC day. An action that is not allowed is *refused*: recorded with its reason, never fired,
and its item goes to a human (a human decision fires it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reviewqueue.errors import ConfigurationError

__all__ = ["HUMAN_ONLY_BY_DEFAULT", "KNOWN_PARAMS", "Authority", "authority_for", "default_authority"]

HUMAN_ONLY_BY_DEFAULT = frozenset({"stripe_refund", "sql"})
AUTOMATIC_BY_DEFAULT = frozenset({"slack_message", "webhook"})

# The parameters each built-in connector reads; a declaration naming any other is a typo and refused.
KNOWN_PARAMS: Mapping[str, frozenset[str]] = {
    "stripe_refund": frozenset({"charge", "amount", "currency", "match"}),
    "slack_message": frozenset({"channel", "text"}),
    "sql": frozenset({"statement", "bind"}),
    "webhook": frozenset({"url"}),
}
# Connectors that move an amount the limits can be measured in; each must declare where the event's amount is.
AMOUNT_REQUIRED = frozenset({"stripe_refund"})


@dataclass(frozen=True)
class Authority:
    """What an automatic decision may do with one action (formula in the module docstring)."""

    automatic: bool
    max_amount: float | None = None
    daily_total: float | None = None

    @property
    def limited(self) -> bool:
        return self.max_amount is not None or self.daily_total is not None

    def refusal(self, connector: str, amount: Any, spent_today: float) -> str | None:
        """None when an automatic decision may fire this action; otherwise the reason, in words."""
        if not self.automatic:
            return f"{connector} is human-only: an automatic decision may not fire it (a human decision will)"
        if not self.limited:
            return None
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount) \
                or amount < 0:
            return f"{connector}: the event's amount {amount!r} is not a number ≥ 0, so its limits cannot be checked"
        if self.max_amount is not None and amount > self.max_amount:
            return f"{connector}: amount {amount:g} is above the automatic limit max_amount={self.max_amount:g}"
        if self.daily_total is not None and spent_today + amount > self.daily_total:
            return (f"{connector}: amount {amount:g} would bring today's automatic total (UTC) to "
                    f"{spent_today + amount:g}, above daily_total={self.daily_total:g}")
        return None


def default_authority(connector: str) -> Authority:
    """The authority of an action declared without ``automatic=``: notifications yes, anything else no."""
    return Authority(automatic=connector in AUTOMATIC_BY_DEFAULT)


def authority_for(
    connector: str, params: Mapping[str, Any], automatic: bool | None, max_amount: Any, daily_total: Any
) -> Authority:
    """Validate one ``rq.action(...)`` declaration and return its authority; ConfigurationError names the fault."""
    where = f"action({connector!r})"
    if not isinstance(connector, str) or not connector:
        raise ConfigurationError(f"action: the connector must be a non-empty string, got {connector!r}")
    known = KNOWN_PARAMS.get(connector)
    if known is not None:
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown option(s) {unknown}; it takes automatic, max_amount, daily_total and "
                f"{sorted(known)}")
    if automatic is not None and not isinstance(automatic, bool):
        raise ConfigurationError(f"{where}: automatic must be True or False, got {automatic!r}")
    if automatic is None:
        automatic = default_authority(connector).automatic
    for name, value in (("max_amount", max_amount), ("daily_total", daily_total)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{where}: {name} must be a finite number ≥ 0, got {value!r}")
        if not automatic:
            raise ConfigurationError(f"{where}: {name} limits automatic decisions; declare automatic=True with it")
        if connector not in AMOUNT_REQUIRED:
            raise ConfigurationError(f"{where}: {name} needs an amount; only {sorted(AMOUNT_REQUIRED)} move one")
    if connector in AMOUNT_REQUIRED:
        amount = params.get("amount")
        if not isinstance(amount, str) or not amount:
            raise ConfigurationError(
                f"{where}: declare amount=<payload path of the event's amount>, e.g. amount='features.amount' "
                "(the refund is never more than the event's amount)")
        match = params.get("match", {})
        if not isinstance(match, Mapping) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                                     for k, v in match.items()):
            raise ConfigurationError(
                f"{where}: match must map charge fields to event context fields, e.g. "
                "{'metadata.user_id': 'user_id'}")
    return Authority(
        automatic=automatic,
        max_amount=None if max_amount is None else float(max_amount),
        daily_total=None if daily_total is None else float(daily_total),
    )
