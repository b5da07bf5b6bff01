"""POST the action payload to an HTTP endpoint, signed per Standard Webhooks (standardwebhooks.com).

Headers: ``webhook-id`` is the action id, stable across retries, so the receiver can drop duplicates
(this is what makes the webhook exactly-once at a well-behaved receiver); ``webhook-timestamp`` is the send
time; ``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the shared secret.

SSRF guard: the URL's host is resolved and refused when any address is not globally routable (private,
loopback, link-local such as the 169.254.169.254 metadata service, CGNAT, multicast, reserved) unless the
host is in ``allow_private_hosts``. Redirects are not followed and proxy environment variables are ignored,
so the checked host is the one we talk to. Resolution and connection are separate steps: a DNS answer that
changes in between (rebinding) is not caught; put an egress proxy in front where that matters.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from connectors._retry_after import retry_after_seconds
from connectors.base import ActionContext
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.settings import Settings

__all__ = ["DEV_PRIVATE_HOSTS", "WebhookConnector", "check_destination"]

log = logging.getLogger(__name__)

DEV_PRIVATE_HOSTS = frozenset({"127.0.0.1", "localhost"})
Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class WebhookConnector:
    """Connector ``webhook``. params: ``{"url": "https://…"}`` (optional; default ``settings.webhook_url``).

    ``allow_private_hosts``: hosts (names or IP literals, as written in the URL) exempt from the SSRF guard.
    When omitted it is ``{"127.0.0.1", "localhost"}`` outside production (the local sink and demos live there)
    and empty when ``settings.environment == "prod"``.
    """

    name = "webhook"

    def __init__(
        self,
        settings: Settings,
        *,
        allow_private_hosts: Collection[str] | None = None,
        resolver: Resolver = _resolve,
    ) -> None:
        if allow_private_hosts is None:
            allow_private_hosts = set() if settings.environment == "prod" else DEV_PRIVATE_HOSTS
        self._settings = settings
        self._allow = frozenset(host.lower() for host in allow_private_hosts)
        self._resolver = resolver
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        url = action.params.get("url") or self._settings.webhook_url
        secret = self._settings.webhook_secret
        if not url or secret is None or not secret.get_secret_value():
            raise ConnectorNotConfigured(
                "webhook is not configured: set REVIEWQUEUE_WEBHOOK_URL and REVIEWQUEUE_WEBHOOK_SECRET"
            )
        check_destination(str(url), self._allow, self._resolver)
        body = json.dumps(action.payload, separators=(",", ":"), sort_keys=True, default=str)
        headers = sign_headers(secret.get_secret_value(), action.action_id, body)
        try:
            response = self._http().post(str(url), content=body.encode(), headers=headers)
        except httpx.TimeoutException as exc:
            raise RetryableDeliveryError(f"webhook: timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise RetryableDeliveryError(f"webhook: cannot reach the endpoint: {exc!r}") from exc
        status = response.status_code
        if 200 <= status < 300:
            log.info(
                "webhook delivered", extra={"action": "webhook_delivered", "action_id": action.action_id}
            )
            return {"status_code": status}
        message = f"webhook: the endpoint answered HTTP {status}"
        if status in (408, 429) or status >= 500:
            raise RetryableDeliveryError(message, retry_after=retry_after_seconds(response.headers))
        raise PermanentDeliveryError(message)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self._settings.webhook_timeout_seconds,
                    follow_redirects=False,  # a redirect could point past the SSRF guard
                    trust_env=False,  # likewise a proxy from the environment
                )
            return self._client


def sign_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed at the current time."""
    # standardwebhooks' sign() does timestamp.replace(tzinfo=utc): a naive local time would sign the wrong
    # instant, so the timestamp must already be UTC-aware, and the header must be derived from the same value.
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        signature = Webhook(secret).sign(msg_id, now, body)
    except Exception as exc:  # a secret that is not base64 raises binascii.Error, an empty one its own error
        raise PermanentDeliveryError(
            f"webhook: the signing secret is unusable: {type(exc).__name__}"
        ) from None
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def check_destination(url: str, allow_private_hosts: Collection[str], resolver: Resolver = _resolve) -> None:
    """Refuse (PermanentDeliveryError) a URL that is not http(s) or that reaches a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentDeliveryError(f"webhook: not an http(s) URL: {url!r}")
    host = parts.hostname.lower()
    if host in allow_private_hosts:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PermanentDeliveryError(f"webhook: bad port in {url!r}") from None
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = resolver(host, port)
        except OSError as exc:  # DNS may be down for a moment; let the outbox try again
            raise RetryableDeliveryError(f"webhook: cannot resolve {host!r}: {exc}") from exc
    for address in addresses:
        if not _is_public(address):
            raise PermanentDeliveryError(
                f"webhook: refusing {host!r}: it resolves to the non-public address {address}"
            )


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
