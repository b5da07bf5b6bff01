"""Post a message to a Slack channel with slack_sdk's ``chat.postMessage``, once per action in effect.

Slack has no idempotency key, so each message carries Slack message metadata with the action id, and when an
earlier attempt may have posted (``outcome_unknown``: a dropped response, a worker killed before its outcome
was committed) the connector first reads the channel's recent history (``conversations.history`` with
``include_all_metadata``, the channel name resolved to its id with ``conversations.list``) and returns the
message it finds instead of posting again. That needs the ``channels:history``/``groups:history`` and
``channels:read``/``groups:read`` scopes; without them (or past the bounded look-back) it logs a warning and
posts, at-least-once as before, rather than dead-letter the alert.
slack_sdk's built-in retry handlers are switched off: the outbox owns retry timing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
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

__all__ = ["SlackMessageConnector", "render_text", "slack_escape", "translate_slack_error"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
EVENT_TYPE = "reviewqueue_action"
# How far back an earlier attempt's message is looked for: every retry of an action (outbox_max_attempts at
# up to retry_max_seconds apart) falls well inside a day; an admin replay days later may post again.
LOOKBACK_SECONDS = 24 * 3600
HISTORY_PAGE_SIZE = 200
HISTORY_MAX_PAGES = 10  # at most 2,000 of the channel's latest messages are read per look-up
# Slack channel ids (public C…, private G…, direct D…) are upper-case; channel names are lower-case
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")
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
        self._channel_ids: dict[str, str] = {}  # channel name → id, learnt from conversations.list

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        client = self._slack()
        channel = action.params.get("channel")
        if not isinstance(channel, str) or not channel:
            raise PermanentDeliveryError("slack_message: params need a 'channel'")
        text = render_text(action.params.get("text"), action.payload, self._settings.ui_base_url)
        payload = action.payload
        metadata = {
            "event_type": EVENT_TYPE,
            "event_payload": {
                "action_id": action.action_id,
                "model": str(payload.get("model", "")),
                "external_id": str(payload.get("external_id", "")),
            },
        }
        try:
            if action.outcome_unknown:
                earlier = self._find_message(client, channel, action.action_id)
                if earlier is not None:
                    log.info("slack message already posted", extra={"action": "slack_found",
                                                                    "action_id": action.action_id})
                    return earlier
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

    # -- looking before posting again ----------------------------------------------------------------------

    def _find_message(self, client: WebClient, channel: str, action_id: str) -> dict[str, Any] | None:
        """The message an earlier attempt of this action posted, as an outcome; None when there is none.

        Transient Slack errors propagate (the action retries, still outcome-unknown); a refusal such as a
        missing scope cannot heal by retrying, so it is logged and the caller posts.
        """
        try:
            channel_id = self._channel_id(client, channel)
            if channel_id is None:  # not a channel this app can see: nothing of ours is there
                return None
            for message in self._recent_messages(client, channel_id):
                if _posted_by(message, action_id):
                    return {"channel": channel_id, "ts": message.get("ts")}
        except SlackApiError as exc:
            error = translate_slack_error(exc)
            if isinstance(error, RetryableDeliveryError):
                raise
            log.warning("cannot look for an earlier slack message; posting, which may duplicate it",
                        extra={"action": "slack_lookup_refused", "action_id": action_id, "error": str(error)})
        return None

    def _channel_id(self, client: WebClient, channel: str) -> str | None:
        """conversations.history takes a channel id only; postMessage params usually name the channel."""
        if CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.removeprefix("#")
        with self._lock:
            if name in self._channel_ids:
                return self._channel_ids[name]
        cursor = None
        while True:
            page = client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                             limit=200, cursor=cursor)
            found = {c["name"]: c["id"] for c in page.get("channels") or [] if "name" in c and "id" in c}
            with self._lock:
                self._channel_ids.update(found)
            if name in found:
                return found[name]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    @staticmethod
    def _recent_messages(client: WebClient, channel_id: str) -> Iterator[dict[str, Any]]:
        """The channel's messages of the look-back window, newest first, at most HISTORY_MAX_PAGES pages."""
        oldest = f"{time.time() - LOOKBACK_SECONDS:.6f}"
        cursor = None
        for _ in range(HISTORY_MAX_PAGES):
            page = client.conversations_history(channel=channel_id, include_all_metadata=True, oldest=oldest,
                                                limit=HISTORY_PAGE_SIZE, cursor=cursor)
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return
        log.warning("slack look-up stopped after its page limit",
                    extra={"action": "slack_lookup_truncated", "channel": channel_id})

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


def slack_escape(text: str) -> str:
    """``text`` as Slack shows it literally: ``&``, ``<`` and ``>`` escaped as Slack's formatting docs require,
    so a client-sent string cannot become ``<!channel>``, a ``<@U…>`` mention or a disguised ``<url|text>`` link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(value: Any) -> Any:
    """Every string inside a payload value escaped (dicts and lists too); numbers keep their format specs."""
    if isinstance(value, str):
        return slack_escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def render_text(template: Any, payload: dict[str, Any], ui_base_url: str) -> str:
    """The message text: the model's template filled from the payload, or a default summary with a link.

    The template and the item link are ours and keep their Slack markup; every payload value (what clients and
    reviewers sent: external_id, context, notes…) is escaped, so none of it becomes a mention or a link."""
    link = _item_link(payload, ui_base_url)
    payload = _escaped(payload)
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


def _posted_by(message: dict[str, Any], action_id: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == EVENT_TYPE and payload.get("action_id") == action_id


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
