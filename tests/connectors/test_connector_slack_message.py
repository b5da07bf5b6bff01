"""slack_message against the sink's Slack Web API: assertions are on what the sink received."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from connectors import slack_message
from connectors.slack_message import SlackMessageConnector
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from tests.faults.proxy import Fault, FaultProxy


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


# -- exactly once in effect: look before posting again ---------------------------------------------------------


def messages_of(sink, action_id: str) -> list[dict]:
    return [m for m in sink.slack_messages if m["metadata"]["event_payload"]["action_id"] == action_id]


def test_a_dropped_response_then_a_retry_leaves_exactly_one_message(sink, make_settings, make_action, closing):
    """The post reaches Slack but its answer is lost; the retry (outcome unknown) finds the message by the
    action id in its metadata and returns it instead of posting again."""
    with FaultProxy(sink.url) as proxy:
        proxy.script(Fault.drop_after_forward(), when=lambda r: r.path.endswith("/chat.postMessage"))
        settings = make_settings(slack_token=sink.slack_token, slack_base_url=f"{proxy.url}/api/")
        connector = closing(SlackMessageConnector(settings))
        action = make_action("slack_message", action_id="act_lost", params={"channel": "#fraud-alerts"})

        with pytest.raises(RetryableDeliveryError, match="cannot reach Slack"):
            connector.deliver(action)
        [posted] = sink.slack_messages  # the effect happened; the worker does not know it
        outcome = connector.deliver(
            make_action("slack_message", action_id="act_lost", params={"channel": "#fraud-alerts"}, attempt=2,
                        outcome_unknown=True))

        assert [r.path.rsplit("/", 1)[-1] for r in proxy.seen()] == [
            "chat.postMessage", "conversations.list", "conversations.history"]
    assert sink.slack_messages == [posted], "exactly one message at the sink"
    assert outcome == {"channel": posted["channel_id"], "ts": posted["ts"]}


def test_a_rerun_with_the_outcome_unknown_returns_the_earlier_message(connector, sink, make_action):
    """A worker killed after the post, before its outcome was committed: the action is reclaimed and re-run."""
    first = connector.deliver(make_action("slack_message", action_id="act_k", params={"channel": "#fraud-alerts"}))
    connector.deliver(make_action("slack_message", action_id="act_other", params={"channel": "#fraud-alerts"}))

    again = connector.deliver(make_action("slack_message", action_id="act_k", params={"channel": "#fraud-alerts"},
                                          attempt=2, outcome_unknown=True))

    assert len(messages_of(sink, "act_k")) == 1 and len(sink.slack_messages) == 2
    assert again["ts"] == first["ts"]


def test_the_outcome_unknown_with_no_earlier_message_posts_once(connector, sink, make_action):
    connector.deliver(make_action("slack_message", action_id="act_other", params={"channel": "#fraud-alerts"}))
    connector.deliver(make_action("slack_message", action_id="act_n", params={"channel": "#ops"}))  # another channel

    outcome = connector.deliver(make_action("slack_message", action_id="act_n", params={"channel": "#fraud-alerts"},
                                            attempt=2, outcome_unknown=True))

    [posted] = [m for m in messages_of(sink, "act_n") if m["channel"] == "#fraud-alerts"]
    assert outcome == {"channel": "#fraud-alerts", "ts": posted["ts"]}


def test_a_never_posted_channel_is_looked_up_then_posted_to(connector, sink, make_action):
    outcome = connector.deliver(make_action("slack_message", action_id="act_new", params={"channel": "#fresh"},
                                            outcome_unknown=True, attempt=2))

    [posted] = sink.slack_messages
    assert outcome["ts"] == posted["ts"] and posted["channel"] == "#fresh"


def test_the_look_up_pages_through_the_history(connector, sink, make_action, monkeypatch):
    monkeypatch.setattr(slack_message, "HISTORY_PAGE_SIZE", 2)
    first = connector.deliver(make_action("slack_message", action_id="act_old", params={"channel": "#fraud-alerts"}))
    for i in range(5):
        connector.deliver(make_action("slack_message", action_id=f"act_{i}", params={"channel": "#fraud-alerts"}))

    again = connector.deliver(make_action("slack_message", action_id="act_old", params={"channel": "#fraud-alerts"},
                                          attempt=2, outcome_unknown=True))

    assert again["ts"] == first["ts"] and len(sink.slack_messages) == 6


def test_a_channel_given_by_id_is_read_without_resolving_it(connector, sink, make_action):
    connector.deliver(make_action("slack_message", action_id="act_id", params={"channel": "#fraud-alerts"}))
    [posted] = sink.slack_messages

    again = connector.deliver(make_action("slack_message", action_id="act_id",
                                          params={"channel": posted["channel_id"]}, attempt=2, outcome_unknown=True))

    assert again == {"channel": posted["channel_id"], "ts": posted["ts"]} and len(sink.slack_messages) == 1


def test_a_rate_limited_look_up_retries_without_posting(connector, sink, make_action):
    sink.rate_limit_next(1, retry_after=3, endpoint="slack")

    with pytest.raises(RetryableDeliveryError, match="ratelimited") as caught:
        connector.deliver(make_action("slack_message", action_id="act_rl", params={"channel": "#fraud-alerts"},
                                      attempt=2, outcome_unknown=True))

    assert caught.value.retry_after == 3 and sink.slack_messages == []


def test_the_sink_answers_history_like_slack(connector, sink, make_action):
    """conversations.history takes a channel id, not a name; metadata only with include_all_metadata."""
    connector.deliver(make_action("slack_message", action_id="act_h", params={"channel": "#fraud-alerts"}))
    [posted] = sink.slack_messages
    client = connector._slack()

    with pytest.raises(SlackApiError) as by_name:
        client.conversations_history(channel="#fraud-alerts")
    plain = client.conversations_history(channel=posted["channel_id"])
    full = client.conversations_history(channel=posted["channel_id"], include_all_metadata=True,
                                        oldest=str(float(posted["ts"]) - 1))
    later = client.conversations_history(channel=posted["channel_id"], oldest=posted["ts"])

    assert by_name.value.response["error"] == "channel_not_found"
    assert [m["ts"] for m in plain["messages"]] == [posted["ts"]] and "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"]["event_payload"]["action_id"] == "act_h"
    assert later["messages"] == [], "oldest is exclusive unless inclusive"
