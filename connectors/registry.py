"""Build every connector the product ships, keyed by name, from one Settings object.

Connectors are built even when unconfigured: an action routed to one then fails visibly with
ConnectorNotConfigured (DESIGN invariant 8) instead of vanishing because no connector had the name.
"""

from __future__ import annotations

from collections.abc import Collection

from connectors.base import Connector
from connectors.slack_message import SlackMessageConnector
from connectors.sql import SqlConnector
from connectors.stripe_refund import StripeRefundConnector
from connectors.webhook import WebhookConnector
from reviewqueue.settings import Settings

__all__ = ["CONNECTOR_NAMES", "build_connectors"]

CONNECTOR_NAMES: tuple[str, ...] = ("stripe_refund", "slack_message", "sql", "webhook")


def build_connectors(
    settings: Settings, *, allow_private_hosts: Collection[str] | None = None
) -> dict[str, Connector]:
    """All shipped connectors by name.

    ``allow_private_hosts`` goes to the webhook connector's SSRF guard (None: its environment default).
    """
    connectors: list[Connector] = [
        StripeRefundConnector(settings),
        SlackMessageConnector(settings),
        SqlConnector(settings),
        WebhookConnector(settings, allow_private_hosts=allow_private_hosts),
    ]
    return {connector.name: connector for connector in connectors}
