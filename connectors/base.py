"""The port every connector implements.

A connector turns one outbox action into one effect at a provider (a Stripe refund, a Slack message, a row
in the business database, an outbound webhook). The outbox dispatcher calls `deliver()`; the connector:

- returns a small JSON-able dict describing the provider's confirmation (stored on the action as `outcome`);
- raises `RetryableDeliveryError` (optionally with `retry_after` seconds) when a retry may succeed;
- raises `PermanentDeliveryError` when it will not (bad params, provider refused);
- raises `ConnectorNotConfigured` when its settings are missing: an unconfigured connector fails visibly.

Exactly-once: `action.action_id` is stable across retries; use it as the idempotency key at the provider.
When `action.outcome_unknown` is true, a previous attempt may have reached the provider (the worker died or
the connection dropped after sending): look for the effect first and return it instead of acting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ActionContext:
    """Everything a connector needs to perform one action."""

    action_id: str
    connector: str
    params: dict[str, Any]
    """Static parameters from the model's verdict → action spec (e.g. the Slack channel, the SQL statement)."""
    payload: dict[str, Any]
    """The event the decision was about: model, external_id, verdict, score, source, actor, features, context."""
    attempt: int = 1
    outcome_unknown: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    """One side effect type. Implementations live in `connectors/<name>.py`."""

    name: str

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        """Perform the action once; return the provider's confirmation."""
        ...

    def close(self) -> None:
        """Release clients and pools."""
        ...


def resolve_param(payload: dict[str, Any], path: str) -> Any:
    """Look up a dotted path such as ``context.charge_id`` in the action payload.

    Raises KeyError naming the path when it is missing, so a misconfigured action fails with a clear error.
    """
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node
