"""Action authority on the real parts: an automatic decision fires only actions declared automatic, within their
limits; a refused one is visible (status refused, with the reason) and its item goes to a human, whose decision
fires it. Refunds are asserted at localstripe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

import reviewqueue as rq
from connectors.stripe_refund import StripeRefundConnector
from reviewqueue.db.tables import OutboxAction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import decisions, ingest, outbox, queue
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.settings import Settings
from reviewqueue.testing import RecordingConnector
from tests.clock import FakeClock, past_undo_window
from tests.factories import transaction

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
REFUND = {"charge": "context.charge_id", "amount": "features.amount", "currency": "context.currency",
          "match": {"metadata.user_id": "user_id"}}


@pytest.fixture
def connectors(localstripe):
    stripe = StripeRefundConnector(Settings(environment="test", **localstripe.settings_fields()))
    fakes = {name: RecordingConnector(name) for name in ("slack_message", "sql", "webhook")}
    yield {"stripe_refund": stripe, **fakes}
    stripe.close()


def flagged(localstripe, i: int, amount: float, charge_cents: int | None = None) -> dict:
    """A confident-fraud event of ``amount`` USD with its own charge at localstripe (of the same user)."""
    event = transaction(i, risky=True, amount=amount)
    event["external_id"] = f"tx-auth-{i}"
    event["context"]["charge_id"] = localstripe.create_charge(
        charge_cents if charge_cents is not None else round(amount * 100), metadata={"user_id": f"u{i}"})
    return event


def with_refund(monkeypatch, ctx, **authority) -> None:
    """The fraud verdict's actions with the refund declared as given and no ban (human-only by default)."""
    spec = ctx.registry.model("fraud")
    actions = [rq.action("stripe_refund", **authority, **REFUND), rq.action("slack_message", channel="#fraud"),
               rq.action("webhook")]
    monkeypatch.setitem(spec.verdicts, "fraud", actions)


def deliver_all(ctx, connectors) -> None:
    dispatcher = outbox.Dispatcher(ctx, connectors, "w-auth")
    try:
        while dispatcher.run_once():
            pass
    finally:
        dispatcher.close()


def actions_of(ctx, external_id: str) -> dict:
    with ctx.engine.connect() as conn:
        rows = list(conn.execute(select(OutboxAction)))
    return {r.connector: r for r in rows if r.payload["external_id"] == external_id}


def item_of(ctx, prediction_id: int):
    with ctx.engine.connect() as conn:
        return conn.execute(select(ReviewItem).where(ReviewItem.prediction_id == prediction_id)).one_or_none()


def refunded(localstripe, charge: str) -> list[int]:
    return [r["amount"] for r in localstripe.refunds_for(charge)]


def test_an_auto_flag_fires_no_human_only_action_shows_it_refused_and_queues_the_item(ctx, connectors,
                                                                                     localstripe, people):
    event = flagged(localstripe, 1, 950.0)
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert result.route == "auto_flag"
    deliver_all(ctx, connectors)

    charge = event["context"]["charge_id"]
    assert refunded(localstripe, charge) == []  # nothing moved at Stripe
    assert connectors["sql"].delivered == []  # nobody banned
    actions = actions_of(ctx, event["external_id"])
    assert {c: a.status for c, a in actions.items()} == {
        "stripe_refund": "refused", "sql": "refused", "slack_message": "done", "webhook": "done"}
    assert "human-only" in actions["stripe_refund"].last_error
    # visible through the service the API lists
    admin = authenticate(ctx, people.admin)
    listed = outbox.list_actions(ctx, admin, "refused", None, None, 50)
    assert {a.connector for a in listed} == {"stripe_refund", "sql"}
    assert all("automatic decision may not fire it" in (a.last_error or "") for a in listed)
    assert outbox.counts(ctx).refused == 2
    # and the item waits for a human, selected with certainty
    item = item_of(ctx, result.prediction_id)
    assert item is not None and (item.kind, item.status, item.queue) == ("review", "pending", "fraud")
    assert result.item_id == item.id

    # the reviewer's verdict fires the refund: exactly the event's amount, on the event's charge
    reviewer = authenticate(ctx, people.reviewer)
    claimed = queue.claim_next(ctx, reviewer, "fraud")
    assert claimed.id == item.id
    decisions.decide(ctx, reviewer, claimed.id, "fraud", claimed.lease_token)
    deliver_all(ctx, connectors)
    assert refunded(localstripe, charge) == [], "nothing moves during the reviewer's undo window"
    past_undo_window(ctx)
    deliver_all(ctx, connectors)
    assert refunded(localstripe, charge) == [95_000]
    assert [a.payload["source"] for a in connectors["sql"].delivered] == ["reviewer"]  # the ban, by a human


def test_an_auto_refund_above_max_amount_is_refused_and_the_item_queued(ctx, connectors, localstripe,
                                                                         monkeypatch):
    with_refund(monkeypatch, ctx, automatic=True, max_amount=100)
    small, large = flagged(localstripe, 2, 90.0), flagged(localstripe, 3, 150.0)
    results = ingest.ingest(ctx, SYSTEM, "fraud", [small, large])
    assert [r.route for r in results] == ["auto_flag", "auto_flag"]
    deliver_all(ctx, connectors)

    assert refunded(localstripe, small["context"]["charge_id"]) == [9_000]
    assert item_of(ctx, results[0].prediction_id) is None  # within its authority: decided, no human needed
    assert refunded(localstripe, large["context"]["charge_id"]) == []
    refused = actions_of(ctx, large["external_id"])["stripe_refund"]
    assert refused.status == "refused" and "max_amount=100" in refused.last_error
    assert item_of(ctx, results[1].prediction_id).kind == "review"


def test_daily_total_is_enforced_across_events_and_resets_at_utc_midnight(ctx, connectors, localstripe,
                                                                          monkeypatch):
    with_refund(monkeypatch, ctx, automatic=True, max_amount=100, daily_total=150)
    ctx.clock = clock = FakeClock(datetime(2026, 3, 4, 23, 0, tzinfo=UTC))
    events = [flagged(localstripe, 10 + i, 60.0) for i in range(4)]
    first = ingest.ingest(ctx, SYSTEM, "fraud", events[:1])  # 60 of 150
    second = ingest.ingest(ctx, SYSTEM, "fraud", events[1:3])  # 120 of 150, then 180 > 150: refused
    clock.advance(3600)  # 00:00 UTC: a new day
    third = ingest.ingest(ctx, SYSTEM, "fraud", events[3:])
    assert {r.route for r in first + second + third} == {"auto_flag"}
    deliver_all(ctx, connectors)

    assert [refunded(localstripe, e["context"]["charge_id"]) for e in events] == [[6_000], [6_000], [], [6_000]]
    refused = actions_of(ctx, events[2]["external_id"])["stripe_refund"]
    assert refused.status == "refused" and "daily_total=150" in refused.last_error
    assert [item_of(ctx, r.prediction_id) is not None for r in first + second + third] == [False, False, True, False]


def test_a_refund_is_exactly_the_events_amount_never_the_whole_charge(ctx, connectors, localstripe, monkeypatch):
    with_refund(monkeypatch, ctx, automatic=True, max_amount=100)
    event = flagged(localstripe, 20, 20.0, charge_cents=5_000)
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert result.route == "auto_flag"
    deliver_all(ctx, connectors)
    assert refunded(localstripe, event["context"]["charge_id"]) == [2_000]
    assert actions_of(ctx, event["external_id"])["stripe_refund"].status == "done"


def test_a_human_decision_on_another_users_charge_refunds_nothing_and_goes_dead(ctx, connectors, localstripe,
                                                                              people):
    event = flagged(localstripe, 30, 950.0)
    victim = localstripe.create_charge(123_456, metadata={"user_id": "someone-else"})
    event["context"]["charge_id"] = victim
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    reviewer = authenticate(ctx, people.reviewer)
    claimed = queue.claim_next(ctx, reviewer, "fraud")
    assert claimed.id == result.item_id
    decisions.decide(ctx, reviewer, claimed.id, "fraud", claimed.lease_token)
    past_undo_window(ctx)
    deliver_all(ctx, connectors)

    assert refunded(localstripe, victim) == []
    human_refund = [a for a in actions_of_all(ctx) if a.connector == "stripe_refund" and a.status != "refused"]
    assert [(a.status, a.attempts) for a in human_refund] == [("dead", 1)]  # permanent: never retried
    assert "metadata.user_id" in human_refund[0].last_error and "someone-else" in human_refund[0].last_error


def actions_of_all(ctx) -> list:
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(OutboxAction)))


def test_the_probe_an_ingest_token_aiming_a_confident_event_at_a_big_charge_refunds_nothing(
        ctx, connectors, localstripe, people, http):
    """Over HTTP, as reported: an integration token sends a confident event naming an unrelated 1,234.56 charge."""
    victim = localstripe.create_charge(123_456, metadata={"user_id": "victim"})
    event = transaction(40, risky=True)
    event["context"].update(charge_id=victim, user_id="victim")
    sent = http(people.integration).post("/v1/models/fraud/predictions", json={"events": [event]})
    assert sent.status_code == 200 and sent.json()["predictions"][0]["route"] == "auto_flag"
    deliver_all(ctx, connectors)

    assert refunded(localstripe, victim) == [] and connectors["sql"].delivered == []
    admin = http(people.admin)
    listed = admin.get("/v1/actions", params={"status": "refused"}).json()
    assert sorted(a["connector"] for a in listed) == ["sql", "stripe_refund"]
    assert all("human-only" in a["last_error"] for a in listed)
    counts = admin.get("/v1/actions/counts").json()
    assert counts["refused"] == 2 and counts["total"] == 4
    item = http(people.reviewer).post("/v1/queues/fraud/claim").json()
    assert item["external_id"] == event["external_id"]
