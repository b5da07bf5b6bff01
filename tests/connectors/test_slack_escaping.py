"""Nothing a client sent becomes Slack markup: the sink's Slack Web API receives ``<!channel>``, mentions and
``<url|text>`` links from payload values as escaped text (``&lt;`` ``&gt;`` ``&amp;``), while our own item
link (the default text's, and the SLA page's template) stays a working link."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from connectors.slack_message import SlackMessageConnector, slack_escape
from reviewqueue.services.sla import PAGE_TEXT

HOSTILE = "<!channel> <https://evil.example|your bank>"
LINK = "<http://ui.test:8501/?item=17|"


def _connector(make_settings, sink) -> SlackMessageConnector:
    return SlackMessageConnector(make_settings(ui_base_url="http://ui.test:8501", **sink.settings_fields()))


def _links(text: str) -> list[str]:
    """The Slack control sequences in a message: everything between an unescaped < and >."""
    return re.findall(r"<([^<>]*)>", text)


def test_a_hostile_external_id_reaches_slack_escaped_and_our_link_still_works(sink, make_settings, make_action,
                                                                           payload_for):
    payload = {**payload_for(note="ping <@U024BE7LH> & <!here>"), "external_id": HOSTILE, "actor": "<!everyone>"}
    connector = _connector(make_settings, sink)
    try:
        connector.deliver(make_action("slack_message", params={"channel": "#fraud"}, payload=payload))
        connector.deliver(make_action("slack_message", action_id="act_2", payload=payload,
                                      params={"channel": "#fraud", "text": "{external_id} note {context[note]}"}))
    finally:
        connector.close()

    default, templated = (m["text"] for m in sink.slack_messages)
    assert "&lt;!channel&gt; &lt;https://evil.example|your bank&gt;" in default
    assert "&lt;!everyone&gt;" in default
    assert _links(default) == ["http://ui.test:8501/?item=17|Open in reviewqueue"]  # ours, and only ours
    assert templated == ("&lt;!channel&gt; &lt;https://evil.example|your bank&gt; "
                         "note ping &lt;@U024BE7LH&gt; &amp; &lt;!here&gt;")
    assert _links(templated) == []


def test_the_sla_page_escapes_the_external_id_and_keeps_its_link(sink, make_settings, make_action, payload_for):
    payload = {**payload_for(), "external_id": HOSTILE, "verdict": "sla_breach", "actor": "scheduler",
               "sla_minutes": 30}
    connector = _connector(make_settings, sink)
    try:
        connector.deliver(make_action("slack_message", params={"channel": "#oncall", "text": PAGE_TEXT},
                                      payload=payload))
    finally:
        connector.close()

    [message] = sink.slack_messages
    assert "item &lt;!channel&gt; &lt;https://evil.example|your bank&gt; (risk 0.94)" in message["text"]
    assert _links(message["text"]) == ["http://ui.test:8501/?item=17|Open it in reviewqueue"]


@given(st.text())
def test_slack_escape_leaves_no_control_sequence_and_round_trips(text: str) -> None:
    escaped = slack_escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert re.sub(r"&(?!amp;|lt;|gt;)", "", escaped) == escaped  # every & starts one of our three entities
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
