"""The fraud-ops story end to end, through HTTP and a real worker subprocess, on the real peers:
ingest → queue → claim → decide → (its undo window) → refund at localstripe, Slack message, user banned, signed
webhook → dispute webhook → chargeback label → retrain (kept: not enough evidence) → promoted by hand → the new champion
scores the next request."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from reviewqueue.client import Client
from reviewqueue.db.tables import Label, OutboxAction
from reviewqueue_dev.sandbox import wait_until
from tests.factories import uncertain
from tests.stripe_signing import dispute_event, sign


def with_charge(stack, event: dict, amount: float) -> dict:
    event["context"]["charge_id"] = stack.stripe.create_charge(
        int(amount * 100), metadata={"user_id": event["context"]["user_id"]})
    return event


def test_fraud_ops_loop_end_to_end(stack, people):
    shop = Client(stack.api_url, people.integration)
    events = [with_charge(stack, uncertain(i), 40.0 + (i % 5) * 0.5) for i in range(3)]
    results = shop.predict("fraud", events)
    assert [r.route for r in results] == ["review"] * 3 and all(r.model_version == 1 for r in results)

    reviewer = Client(stack.api_url)
    reviewer.sign_in("reviewer", "reviewer-pw")
    [fraud_queue] = reviewer.queues()
    assert fraud_queue.pending == 3
    item = reviewer.claim_next("fraud")
    assert item is not None and item.lease_token and item.explanation
    decision = reviewer.decide(item.id, "fraud", item.lease_token, note="card testing pattern")
    assert len(decision.action_ids) == 4
    # the product model holds a reviewer's "fraud" for its undo window: nothing fires before it ends
    window = stack.ctx.registry.model("fraud").undo_window("fraud")
    assert window > 0 and decision.undo_until is not None

    stack.start_worker()
    charge = item.context["charge_id"]
    deadline_msg = "the worker did not deliver every action"
    try:
        wait_until(lambda: Client(stack.api_url, people.admin).action_counts().done == 4, timeout=window + 30,
                   what=deadline_msg)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.logs_tail()}") from None
    with stack.ctx.engine.connect() as conn:
        delivered_at = [a.done_at for a in conn.execute(select(OutboxAction))]
    assert len(delivered_at) == 4 and all(at is not None and at >= decision.undo_until for at in delivered_at), \
        f"an action fired inside the undo window (until {decision.undo_until}): {delivered_at}"

    # Stripe: one refund for the charge, carrying the action id
    [refund] = stack.stripe.refunds_for(charge)
    with stack.ctx.engine.connect() as conn:
        refund_action = conn.execute(select(OutboxAction).where(OutboxAction.connector == "stripe_refund")).one()
    assert refund["metadata"]["reviewqueue_action_id"] == refund_action.id
    assert refund_action.outcome["refund_id"] == refund["id"]
    # Slack: the alert with a link to the item
    [message] = stack.sink.slack_messages
    assert message["channel"] == "#fraud-alerts" and item.external_id in message["text"]
    assert f"item={item.id}" in message["text"]
    # business DB: the user is banned, with the verdict and the reviewer
    assert stack.banned_users() == [(item.context["user_id"], "fraud", "reviewer")]
    # business system: one verified webhook whose id is the action id
    [hook] = stack.sink.webhooks
    assert hook["payload"]["external_id"] == item.external_id and hook["payload"]["verdict"] == "fraud"
    assert len(hook["webhook_id"]) == 32

    # weeks later: Stripe reports a dispute on a charge nobody reviewed yet
    disputed = next(e for e in events if e["external_id"] != item.external_id)
    body = dispute_event("evt_e2e_1", disputed["context"]["charge_id"])
    for _ in range(2):  # Stripe retries deliveries: the second is a no-op
        r = httpx.post(f"{stack.api_url}/v1/webhooks/stripe", content=body,
                       headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is True
    bad = httpx.post(f"{stack.api_url}/v1/webhooks/stripe", content=body,
                     headers={"Stripe-Signature": sign(body, secret="whsec_other")})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "Stripe-Signature"
    with stack.ctx.engine.connect() as conn:
        labels = sorted((lb.source, lb.value) for lb in conn.execute(select(Label)))
    assert labels == [("chargeback", "fraud"), ("reviewer", "fraud")]

    # retrain on the labels: a new evaluated version; two labels are not evidence, so the gate keeps v1 and
    # says so; a data scientist can still put v2 in front of traffic, recorded with who and why, and it serves
    # the next request without a restart
    scientist = Client(stack.api_url, people.data_scientist)
    run = scientist.retrain("fraud")
    assert run.status == "rejected" and run.n_labels == 2, run
    assert run.decision.startswith("kept v1: not enough evidence"), run.decision
    promoted = scientist.promote("fraud", 2, "trying the chargeback-informed version")
    assert promoted.decision == ("promote: v2 serves instead of v1, by data_scientist: trying the "
                                 "chargeback-informed version")
    [fresh] = shop.predict("fraud", [uncertain(99)])
    assert fresh.model_version == 2
    versions = {v.version: v.status for v in scientist.versions("fraud")}
    assert versions == {1: "retired", 2: "champion"}
