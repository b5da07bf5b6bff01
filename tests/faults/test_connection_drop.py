"""The connection drops after the provider committed: the client never hears the answer, the effect exists.

A fault proxy sits between the real connectors and the real peers; for the first refund POST (and the first
webhook POST) it forwards the request, lets the peer commit and answer, then cuts the connection instead of
returning the response. The outbox retries with the outcome unknown, and the retry must find the effect
(refund metadata at localstripe, which ignores Idempotency-Key; webhook-id at the receiver).
"""

from __future__ import annotations

from connectors.registry import build_connectors
from reviewqueue.services import outbox
from reviewqueue.settings import Settings
from reviewqueue_dev.sandbox import wait_until
from tests.faults.proxy import Fault


def refund_post(request) -> bool:
    return request.method == "POST" and request.path.startswith("/v1/refunds")


def test_response_lost_after_the_refund_and_the_webhook_committed_each_effect_once(rig, people):
    """Injects: one dropped response after localstripe created the refund, one after the receiver accepted the
    webhook. Counts: refunds at localstripe (1), refund POSTs through the proxy (1: the retry looks first),
    verified webhooks (1) and webhook requests (2, the second a recognised duplicate)."""
    stripe_proxy = rig.proxy(rig.stripe.url)
    stripe_proxy.script(Fault.drop_after_forward(), when=refund_post)
    hook_proxy = rig.proxy(rig.sink.url)
    hook_proxy.script(Fault.drop_after_forward(), when=lambda r: r.method == "POST")
    [event] = rig.ingest_flagged(people.integration, 1, offset=400)
    charge = event["context"]["charge_id"]
    settings = Settings(**{**rig.base, "stripe_api_base": stripe_proxy.url,
                           "webhook_url": f"{hook_proxy.url}/webhooks/shop"})
    connectors = build_connectors(settings)
    dispatcher = outbox.Dispatcher(rig.ctx, connectors, "drop-test")
    try:
        def settled() -> bool:
            dispatcher.run_once()
            return rig.status_counts()["done"] == 4
        wait_until(settled, timeout=30, what="all four actions done")
    finally:
        dispatcher.close()
        for connector in connectors.values():
            connector.close()
    dropped = [r for r in stripe_proxy.seen() if r.fault == "drop"]
    assert len(dropped) == 1 and dropped[0].upstream_status == 200, "localstripe committed the dropped refund"
    refunds = rig.stripe.refunds_for(charge)
    posts = stripe_proxy.seen(refund_post)
    assert len(refunds) == 1, f"refunds at localstripe after a dropped response: {len(refunds)} (POSTs {len(posts)})"
    assert len(posts) == 1, f"the retry must look up the refund, not POST again: {[r.path for r in posts]}"
    by_connector = {a.connector: a for a in rig.actions()}
    refund_action = by_connector["stripe_refund"]
    assert refund_action.attempts == 2 and refund_action.outcome["refund_id"] == refunds[0]["id"], \
        f"attempts={refund_action.attempts} outcome={refund_action.outcome}"
    hook = by_connector["webhook"]
    assert rig.verified_webhooks() == {event["external_id"]: 1}, rig.sink.webhooks
    assert rig.webhook_attempts() == {hook.id: 2}, "the retry carried the same webhook-id"
    assert [a.get("duplicate") for a in rig.sink.webhook_attempts] == [False, True]
