"""webhook against the sink's Standard Webhooks receiver, which verifies every signature it is sent."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.webhook import WebhookConnector, check_destination
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue_dev.sandbox import DEFAULT_WEBHOOK_SECRET


@pytest.fixture
def connector(sink, make_settings):
    connector = WebhookConnector(make_settings(**sink.settings_fields("fraud")))
    yield connector
    connector.close()


def test_payload_is_delivered_and_its_signature_verified(connector, sink, make_action, payload_for):
    outcome = connector.deliver(make_action("webhook", action_id="act_w1"))

    assert outcome == {"status_code": 200}
    [received] = sink.webhooks
    assert received["name"] == "fraud"
    assert received["webhook_id"] == "act_w1"
    assert received["payload"] == payload_for()


def test_retries_carry_the_same_webhook_id_and_deliver_once(connector, sink, make_action):
    sink.rate_limit_next(1, retry_after=2, endpoint="webhook")
    sink.fail_next(1, status=502, endpoint="webhook")

    with pytest.raises(RetryableDeliveryError, match="429") as rate_limited:
        connector.deliver(make_action("webhook", action_id="act_w2"))
    with pytest.raises(RetryableDeliveryError, match="502") as failed:
        connector.deliver(make_action("webhook", action_id="act_w2", attempt=2))
    connector.deliver(make_action("webhook", action_id="act_w2", attempt=3))
    connector.deliver(make_action("webhook", action_id="act_w2", attempt=4, outcome_unknown=True))

    assert rate_limited.value.retry_after == 2
    assert failed.value.retry_after is None
    attempts = sink.webhook_attempts
    assert [a["webhook_id"] for a in attempts] == ["act_w2"] * 4
    assert [a["status"] for a in attempts] == [429, 502, 200, 200]
    assert attempts[-1]["duplicate"] is True
    assert [w["webhook_id"] for w in sink.webhooks] == ["act_w2"]


def test_a_client_error_is_permanent(sink, make_settings, make_action, closing):
    fields = {**sink.settings_fields(), "webhook_secret": "whsec_" + "d3Jvbmcgc2VjcmV0IGZvciB0aGlzIHNpbms="}
    connector = closing(WebhookConnector(make_settings(**fields)))

    with pytest.raises(PermanentDeliveryError, match="HTTP 400"):
        connector.deliver(make_action("webhook"))
    assert sink.webhooks == []


def test_a_timeout_is_retryable(make_settings, silent_url, make_action, closing):
    settings = make_settings(
        webhook_url=silent_url, webhook_secret=DEFAULT_WEBHOOK_SECRET, webhook_timeout_seconds=0.2
    )
    connector = closing(WebhookConnector(settings))

    with pytest.raises(RetryableDeliveryError, match="timed out"):
        connector.deliver(make_action("webhook"))


def test_a_refused_connection_is_retryable(make_settings, refused_url, make_action, closing):
    settings = make_settings(webhook_url=refused_url, webhook_secret=DEFAULT_WEBHOOK_SECRET)
    connector = closing(WebhookConnector(settings))

    with pytest.raises(RetryableDeliveryError, match="cannot reach"):
        connector.deliver(make_action("webhook"))


def test_params_url_overrides_the_setting(connector, sink, make_action):
    connector.deliver(make_action("webhook", params={"url": sink.webhook_url("override")}))

    assert [w["name"] for w in sink.webhooks] == ["override"]


@pytest.mark.parametrize(
    "fields", [{}, {"webhook_url": "http://127.0.0.1:9/x"}, {"webhook_secret": "whsec_eA=="}]
)
def test_without_url_and_secret_it_is_not_configured(make_settings, make_action, fields):
    with pytest.raises(ConnectorNotConfigured, match="WEBHOOK_URL"):
        WebhookConnector(make_settings(**fields)).deliver(make_action("webhook"))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "https://10.255.1.1:8443/hook",
        "http://192.168.1.10/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_ssrf_guard_refuses_non_public_addresses(make_settings, make_action, url):
    connector = WebhookConnector(make_settings(webhook_url=url, webhook_secret=DEFAULT_WEBHOOK_SECRET))

    with pytest.raises(PermanentDeliveryError, match="non-public"):
        connector.deliver(make_action("webhook"))


def test_ssrf_guard_checks_what_a_name_resolves_to():
    with pytest.raises(PermanentDeliveryError, match="10.1.2.3"):
        check_destination("https://hooks.example.com/x", set(), resolver=lambda host, port: ["10.1.2.3"])
    with pytest.raises(PermanentDeliveryError, match="127.0.0.1"):
        # an allowed *address* does not exempt a name that resolves to it
        check_destination("http://evil.example/x", {"127.0.0.1"}, resolver=lambda host, port: ["127.0.0.1"])
    check_destination("https://hooks.example.com/x", set(), resolver=lambda host, port: ["93.184.216.34"])


def test_dns_failure_is_retryable():
    def broken(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    with pytest.raises(RetryableDeliveryError, match="cannot resolve"):
        check_destination("https://hooks.example.com/x", set(), resolver=broken)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(PermanentDeliveryError, match="not an http"):
        check_destination(url, set())


def test_in_production_loopback_is_not_allowed_by_default(sink, make_settings, make_action, closing):
    settings = make_settings(environment="prod", **sink.settings_fields())

    with pytest.raises(PermanentDeliveryError, match="non-public"):
        closing(WebhookConnector(settings)).deliver(make_action("webhook"))
    closing(WebhookConnector(settings, allow_private_hosts={"127.0.0.1"})).deliver(make_action("webhook"))
    assert len(sink.webhooks) == 1


def test_the_sink_rejects_bad_signatures_and_junk(sink):
    url = sink.webhook_url()
    now = str(int(time.time()))
    cases = [
        (b"{}", {}),
        (b"{}", {"webhook-id": "m1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}),  # stale
        (b"{}", {"webhook-id": "m1", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"}),
        (b"{}", {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "nocomma"}),  # ValueError
        (b"{}", {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "v1,not*base64"}),
        (b"{}", {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "v1,AAAA"}),  # wrong
        (b"\xff\xfe", {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "v1,AAAA"}),
    ]
    for body, headers in cases:
        assert httpx.post(url, content=body, headers=headers, timeout=5).status_code == 400, headers
    assert sink.webhooks == []
    assert [a["status"] for a in sink.webhook_attempts] == [400] * len(cases)
