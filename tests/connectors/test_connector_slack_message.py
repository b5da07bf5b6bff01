"""slack_message against the sink's Slack Web API: assertions are on what the sink received."""

from __future__ import annotations

import httpx
import pytest

from connectors.slack_message import SlackMessageConnector
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError


@pytest.fixture
def connector(sink, make_settings):
    connector = SlackMessageConnector(
        make_settings(ui_base_url="http://ui.test:8501", **sink.settings_fields())
    )
    yield connector
    connector.close()


def test_message_reaches_the_channel_with_the_default_text(connector, sink, make_action):
    outcome = connector.deliver(
        make_action("slack_message", action_id="act_s1", params={"channel": "#fraud-alerts"})
    )

    [message] = sink.slack_messages
    assert outcome == {"channel": "#fraud-alerts", "ts": message["ts"]}
    assert message["channel"] == "#fraud-alerts"
    for part in ("fraud", "txn_42", "0.94", "alice", "http://ui.test:8501/?item=17"):
        assert part in message["text"]
    assert message["metadata"]["event_payload"]["action_id"] == "act_s1"


def test_the_text_template_is_filled_from_the_payload(connector, sink, make_action):
    connector.deliver(
        make_action(
            "slack_message",
            params={
                "channel": "#fraud-alerts",
                "text": "Fraud on {external_id} (p={score:.2f}) by {actor}, user {context[user_id]} {link}",
            },
        )
    )

    [message] = sink.slack_messages
    assert message["text"] == "Fraud on txn_42 (p=0.94) by alice, user 2 http://ui.test:8501/?item=17"


def test_a_template_field_missing_from_the_payload_is_permanent_and_named(connector, sink, make_action):
    with pytest.raises(PermanentDeliveryError, match="'reviewer_note'"):
        connector.deliver(make_action("slack_message", params={"channel": "#x", "text": "{reviewer_note}"}))
    assert sink.slack_messages == []


def test_no_item_id_means_no_link(connector, sink, make_action, payload_for):
    payload = payload_for()
    del payload["item_id"]
    connector.deliver(make_action("slack_message", params={"channel": "#x"}, payload=payload))

    assert "?item=" not in sink.slack_messages[0]["text"]


def test_rate_limited_is_retryable_with_retry_after(connector, sink, make_action):
    sink.rate_limit_next(1, retry_after=7, endpoint="slack")

    with pytest.raises(RetryableDeliveryError, match="ratelimited") as caught:
        connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts"}))
    assert caught.value.retry_after == 7
    assert sink.slack_messages == []

    connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts"}, attempt=2))
    assert len(sink.slack_messages) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(connector, sink, make_action, status):
    sink.fail_next(1, status=status, endpoint="slack")

    with pytest.raises(RetryableDeliveryError) as caught:
        connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts"}))
    assert caught.value.retry_after is None
    assert sink.slack_messages == []


def test_unknown_channel_is_permanent(connector, sink, make_action):
    sink.slack_channels = {"#fraud-alerts"}

    with pytest.raises(PermanentDeliveryError, match="channel_not_found"):
        connector.deliver(make_action("slack_message", params={"channel": "#nowhere"}))


def test_a_bad_token_is_permanent(sink, make_settings, make_action, closing):
    settings = make_settings(slack_token="xoxb-wrong", slack_base_url=sink.slack_base_url)
    connector = closing(SlackMessageConnector(settings))

    with pytest.raises(PermanentDeliveryError, match="invalid_auth"):
        connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts"}))
    assert sink.slack_messages == []


def test_a_missing_channel_param_is_permanent(connector, make_action):
    with pytest.raises(PermanentDeliveryError, match="channel"):
        connector.deliver(make_action("slack_message", params={}))


def test_an_unreachable_slack_is_retryable(make_settings, refused_url, make_action, closing):
    settings = make_settings(slack_token="xoxb-x", slack_base_url=refused_url + "/api")
    connector = closing(SlackMessageConnector(settings))

    with pytest.raises(RetryableDeliveryError, match="cannot reach Slack"):
        connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts"}))


def test_without_a_token_it_is_not_configured(make_settings, make_action):
    with pytest.raises(ConnectorNotConfigured, match="SLACK_TOKEN"):
        SlackMessageConnector(make_settings()).deliver(make_action("slack_message", params={"channel": "#x"}))


def test_messages_are_readable_over_http_too(connector, sink, make_action):
    connector.deliver(make_action("slack_message", params={"channel": "#fraud-alerts", "text": "hello"}))

    body = httpx.get(f"{sink.url}/sandbox/messages", timeout=5).json()
    assert [(m["channel"], m["text"]) for m in body["slack"]] == [("#fraud-alerts", "hello")]
