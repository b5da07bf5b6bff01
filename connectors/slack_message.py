"""Post a message to a Slack channel with slack_sdk's ``chat.postMessage``.

Slack has no idempotency key, so this connector is at-least-once: a retry after a dropped response may post
twice. Each message carries Slack message metadata with the action id, so a duplicate can be recognised.
slack_sdk's built-in retry handlers are switched off: the outbox owns retry timing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from connectors._retry_after import retry_after_seconds
from connectors.base import ActionContext
from reviewqueue.errors import (
    ConnectorNotConfigured,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from reviewqueue.settings import Settings

__all__ = ["SlackMessageConnector", "render_text", "translate_slack_error"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
# ok=false error codes Slack documents as transient (they can come with HTTP 200)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)


class SlackMessageConnector:
    """Connector ``slack_message``. params: ``{"channel": "#fraud-alerts", "text": <optional template>}``.

    The text template is ``str.format_map`` over the payload's top-level fields plus ``link`` (the review
    UI URL of the item, or "") and ``ui_base_url``, e.g.
    ``"Fraud confirmed on {external_id} (p={score:.2f}) by {actor}"``.
    """

    name = "slack_message"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: WebClient | None = None
        self._lock = threading.Lock()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        client = self._slack()
        channel = action.params.get("channel")
        if not isinstance(channel, str) or not channel:
            raise PermanentDeliveryError("slack_message: params need a 'channel'")
        text = render_text(action.params.get("text"), action.payload, self._settings.ui_base_url)
        payload = action.payload
        metadata = {
            "event_type": "reviewqueue_action",
            "event_payload": {
                "action_id": action.action_id,
                "model": str(payload.get("model", "")),
                "external_id": str(payload.get("external_id", "")),
            },
        }
        try:
            response = client.chat_postMessage(channel=channel, text=text, metadata=metadata)
        except SlackApiError as exc:
            raise translate_slack_error(exc) from exc
        except SlackClientError as exc:  # bad arguments caught by the SDK before sending
            raise PermanentDeliveryError(f"slack_message: {exc}") from exc
        except OSError as exc:  # URLError, timeouts, refused connections: all OSError under urllib
            raise RetryableDeliveryError(f"slack_message: cannot reach Slack: {exc}") from exc
        log.info("slack message posted", extra={"action": "slack_posted", "action_id": action.action_id})
        return {"channel": response.get("channel", channel), "ts": response.get("ts")}

    def close(self) -> None:
        self._client = None  # urllib-based: no pooled connections to release

    def _slack(self) -> WebClient:
        token = self._settings.slack_token
        if token is None or not token.get_secret_value():
            raise ConnectorNotConfigured("slack_message is not configured: set REVIEWQUEUE_SLACK_TOKEN")
        with self._lock:
            if self._client is None:
                base_url = self._settings.slack_base_url or WebClient.BASE_URL
                self._client = WebClient(
                    token=token.get_secret_value(),
                    # slack_sdk joins base_url + method name, so the trailing slash matters
                    base_url=base_url if base_url.endswith("/") else base_url + "/",
                    timeout=TIMEOUT_SECONDS,
                    retry_handlers=[],
                )
            return self._client


def render_text(template: Any, payload: dict[str, Any], ui_base_url: str) -> str:
    """The message text: the model's template filled from the payload, or a default summary with a link."""
    link = _item_link(payload, ui_base_url)
    if template is None:
        return _default_text(payload, link)
    if not isinstance(template, str):
        raise PermanentDeliveryError("slack_message: params 'text' must be a format string")
    fields = {**payload, "link": link or "", "ui_base_url": ui_base_url}
    try:
        return template.format_map(fields)
    except KeyError as exc:
        raise PermanentDeliveryError(
            f"slack_message: the text needs {exc.args[0]!r}, not in the payload"
        ) from None
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise PermanentDeliveryError(f"slack_message: cannot format the text: {exc}") from None


def _item_link(payload: dict[str, Any], ui_base_url: str) -> str | None:
    item_id = payload.get("item_id")
    if item_id is None:
        return None
    return f"{ui_base_url.rstrip('/')}/?item={quote(str(item_id), safe='')}"


def _default_text(payload: dict[str, Any], link: str | None) -> str:
    score = payload.get("score")
    score_text = f"{score:.2f}" if isinstance(score, int | float) else "n/a"
    text = (
        f"[{payload.get('model', '?')}] {payload.get('external_id', '?')}: {payload.get('verdict', '?')} "
        f"(score {score_text}) by {payload.get('actor', '?')}"
    )
    return f"{text}\n<{link}|Open in reviewqueue>" if link else text


def translate_slack_error(exc: SlackApiError) -> DeliveryError:
    """429, 5xx and Slack's transient error codes → retryable; other ok=false answers → permanent."""
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    message = f"slack_message: {error}"
    if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
        return RetryableDeliveryError(message, retry_after=retry_after_seconds(response.headers))
    return PermanentDeliveryError(message)
