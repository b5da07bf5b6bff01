"""Four-eyes and adjudication on the real parts: the API over HTTP, refunds at localstripe, Slack and webhooks at
the loopback sink, bans in a business SQLite database, the real database; the clock is the injectable one.

The product's fraud model, with "fraud" above $100 needing two agreeing reviewers (declared here, on the test's
registry: models/fraud.py's own tests decide large frauds with one click)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

import reviewqueue as rq
from reviewqueue.db.tables import AuditEntry, Decision, Label, Lease, OutboxAction, ReviewItem, Vote
from reviewqueue.domain.states import Role
from reviewqueue.services import auth, ingest
from reviewqueue.services.auth import Actor
from tests.clock import past_undo_window
from tests.factories import create_person, uncertain
from tests.integration import test_undo_and_audits as undo_tests

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
ABOVE = 100.0
# the undo tests' parts: the fake clock, localstripe + the Slack/webhook sink + a business database, the worker
clock, parts, deliver_all = undo_tests.clock, undo_tests.parts, undo_tests.deliver_all


@pytest.fixture
def four_eyes(ctx, monkeypatch):
    """"fraud" on an event above $100 needs two agreeing reviewers."""
    rule = rq.FourEyes(reviewers=2, above=("amount", ABOVE))
    monkeypatch.setitem(ctx.registry.model("fraud").four_eyes, "fraud", rule)


@pytest.fixture
def senior(ctx, http):
    """A senior reviewer granted only the fraud model's escalation (adjudication) queue."""
    principal_id = create_person(ctx, "senior", Role.REVIEWER, ["fraud-senior"])
    return http(auth.issue_token(ctx, principal_id, label="test"))


def enqueue(ctx, parts: Any, i: int, amount: float) -> dict:
    """One review item for an event of ``amount`` with a real charge at localstripe; the event."""
    event = uncertain(i, amount=amount)
    event["context"]["charge_id"] = parts.stripe.create_charge(round(amount * 100),
                                                               metadata={"user_id": event["context"]["user_id"]})
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert result.item_id, result
    return event


def claim(client, queue_name="fraud"):
    r = client.post(f"/v1/queues/{queue_name}/claim")
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


def decide(client, item, verdict, note="", token=None):
    return client.post(f"/v1/items/{item['id']}/decision",
                       json={"verdict": verdict, "lease_token": token or item["lease_token"], "note": note})


def count(ctx, table, *where) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def rows(ctx, table, *where) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(table).where(*where)))


def stored(ctx, item_id: int) -> tuple[int, int, int, int]:
    """(decisions, labels, outbox rows, votes) stored for one item."""
    decided = [d.id for d in rows(ctx, Decision, Decision.item_id == item_id)]
    return (len(decided), count(ctx, Label, Label.decision_id.in_(decided)) if decided else 0,
            count(ctx, OutboxAction, OutboxAction.decision_id.in_(decided)) if decided else 0,
            count(ctx, Vote, Vote.item_id == item_id))


def fraud_effect(item) -> dict:
    return next(e for e in item["verdict_effects"] if e["verdict"] == "fraud")


def test_below_the_amount_one_click_still_decides(ctx, as_, four_eyes, parts, clock):
    event = enqueue(ctx, parts, 1, 40.0)
    item = claim(as_("reviewer"))
    assert fraud_effect(item)["reviewers"] == 1 and "reviewer" not in fraud_effect(item)["label"]
    r = decide(as_("reviewer"), item, "fraud")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "decided" and r.json()["decision_id"] and r.json()["votes"] == []
    past_undo_window(ctx)  # a reviewer's "fraud" waits out the model's undo window
    deliver_all(ctx, parts)
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1
    assert stored(ctx, item["id"]) == (1, 1, 4, 0)


def test_above_the_amount_the_first_vote_fires_nothing_and_the_next_reviewer_sees_it(ctx, as_, four_eyes, parts,
                                                                                    clock):
    event = enqueue(ctx, parts, 2, 200.0)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    item = claim(reviewer)
    effect = fraud_effect(item)
    assert effect["reviewers"] == 2
    assert effect["label"] == "Fraud — refunds $200.00, irreversible; needs a second reviewer"
    r = decide(reviewer, item, "fraud", note="card testing")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["decision_id"], body["label_id"], body["action_ids"], body["queue"]) == (
        "vote", None, None, [], "fraud")
    assert [(v["by"], v["verdict"], v["note"], v["decision_id"]) for v in body["votes"]] == [
        ("reviewer", "fraud", "card testing", None)]
    past_undo_window(ctx)  # even after a decision's undo window a vote has fired nothing
    deliver_all(ctx, parts)
    assert parts.stripe.refunds_for(event["context"]["charge_id"]) == [] and parts.sink.slack_messages == []
    assert stored(ctx, item["id"]) == (0, 0, 0, 1) and count(ctx, Label) == 0
    [row] = rows(ctx, ReviewItem, ReviewItem.id == item["id"])
    assert (row.status, row.queue, row.claimed_by) == ("pending", "fraud", None)

    assert claim(reviewer) is None  # the voter never gets it again for this decision
    second = claim(reviewer2)
    assert second["id"] == item["id"]
    assert [(v["by"], v["verdict"]) for v in second["votes"]] == [("reviewer", "fraud")]
    seen = reviewer2.get(f"/v1/items/{item['id']}").json()
    assert [(v["by"], v["verdict"], v["note"]) for v in seen["votes"]] == [("reviewer", "fraud", "card testing")]
    assert [e.action for e in rows(ctx, AuditEntry, AuditEntry.target == f"item:{item['id']}")] == ["item.voted"]


def test_agreement_fires_once(ctx, as_, four_eyes, parts, clock):
    event = enqueue(ctx, parts, 3, 200.0)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    first = claim(reviewer)
    assert decide(reviewer, first, "fraud").json()["outcome"] == "vote"
    second = claim(reviewer2)
    r = decide(reviewer2, second, "fraud", note="agree")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "decided" and len(body["action_ids"]) == 4
    assert [(v["by"], v["verdict"], v["decision_id"]) for v in body["votes"]] == [
        ("reviewer", "fraud", body["decision_id"])]
    past_undo_window(ctx)
    deliver_all(ctx, parts)
    deliver_all(ctx, parts)
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1
    assert len(parts.sink.slack_messages) == 1 and len(parts.sink.webhooks) == 1 and parts.banned() == ["u3"]
    assert stored(ctx, first["id"]) == (1, 1, 4, 1)
    [decision] = rows(ctx, Decision, Decision.item_id == first["id"])
    assert decision.actor == "reviewer2"
    assert count(ctx, Lease, Lease.name.like("hold:%")) == 0  # the round is decided: the voter's hold is gone
    assert claim(reviewer) is None  # decided: nothing left


def test_disagreement_goes_to_adjudication_where_the_seniors_verdict_fires(ctx, as_, four_eyes, parts, senior,
                                                                          clock):
    event = enqueue(ctx, parts, 4, 200.0)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    first = claim(reviewer)
    decide(reviewer, first, "fraud", note="card testing")
    second = claim(reviewer2)
    r = decide(reviewer2, second, "legit", note="known customer")
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["queue"], r.json()["decision_id"]) == ("adjudication", "fraud-senior", None)
    assert stored(ctx, first["id"]) == (0, 0, 0, 2)
    assert claim(reviewer2) is None and claim(reviewer) is None

    adjudicated = claim(senior, "fraud-senior")
    assert adjudicated["id"] == first["id"]
    assert [(v["by"], v["verdict"], v["note"]) for v in adjudicated["votes"]] == [
        ("reviewer", "fraud", "card testing"), ("reviewer2", "legit", "known customer")]
    assert adjudicated["escalation"]["by"] == "reviewer2"
    assert adjudicated["escalation"]["note"] == "four-eyes disagreement: reviewer voted fraud; reviewer2 voted legit"
    assert fraud_effect(adjudicated)["reviewers"] == 2  # the rule still reads; the senior's verdict is final
    r = decide(senior, adjudicated, "fraud", note="chargeback pattern")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "decided"
    past_undo_window(ctx)
    deliver_all(ctx, parts)
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1
    assert stored(ctx, first["id"]) == (1, 1, 4, 2)
    assert {v.decision_id for v in rows(ctx, Vote, Vote.item_id == first["id"])} == {r.json()["decision_id"]}
    assert len(rows(ctx, AuditEntry, AuditEntry.action == "item.escalated")) == 1


def test_refusals_store_nothing(ctx, as_, people, four_eyes, parts, clock):
    enqueue(ctx, parts, 5, 200.0)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    item = claim(reviewer)
    bad = decide(reviewer, item, "maybe")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "verdict"
    wrong = decide(reviewer2, item, "fraud")  # not their lease
    assert wrong.status_code == 409, wrong.text
    wrong_token = decide(reviewer, item, "fraud", token="0" * 32)
    assert wrong_token.status_code == 409, wrong_token.text
    assert stored(ctx, item["id"]) == (0, 0, 0, 0) and count(ctx, AuditEntry) == 0
    [row] = rows(ctx, ReviewItem, ReviewItem.id == item["id"])
    assert (row.status, row.claimed_by) == ("claimed", people.ids["reviewer"])

    assert decide(reviewer, item, "fraud").json()["outcome"] == "vote"
    again = decide(reviewer, item, "fraud")  # the same click twice: the lease is gone
    assert again.status_code == 409 and stored(ctx, item["id"]) == (0, 0, 0, 1)


def test_the_same_reviewer_cannot_cast_the_second_vote(ctx, as_, four_eyes, parts, clock):
    """Even when the voter holds the item again (their hold removed by hand), their second verdict is refused."""
    enqueue(ctx, parts, 6, 200.0)
    reviewer = as_("reviewer")
    item = claim(reviewer)
    assert decide(reviewer, item, "fraud").json()["outcome"] == "vote"
    with ctx.engine.begin() as conn:
        conn.execute(Lease.__table__.delete())  # type: ignore[attr-defined]
    again = claim(reviewer)
    assert again["id"] == item["id"]
    for verdict in ("fraud", "legit"):
        r = decide(reviewer, again, verdict)
        assert r.status_code == 409 and "already voted" in r.json()["error"]["message"], r.text
    assert stored(ctx, item["id"]) == (0, 0, 0, 1)
    past_undo_window(ctx)
    deliver_all(ctx, parts)
    assert parts.sink.webhooks == []


def race(barrier: threading.Barrier, answers: list[Any], k: int, client: Any, item: dict, verdict: str) -> None:
    barrier.wait()
    answers[k] = decide(client, item, verdict)


@pytest.mark.parametrize("second_verdict", ["fraud", "legit"])
def test_racing_deciders_make_one_decision_and_count_each_reviewer_once(ctx, as_, http, people, four_eyes, parts,
                                                                       clock, second_verdict):
    """Per round, the second reviewer's verdict is sent twice at once (a double click) while the first reviewer
    sends one with the second's lease: never two decisions, never a reviewer counted twice; agreeing refunds
    exactly once, disagreeing lands exactly one adjudication item."""
    rounds = 6
    events = []
    for i in range(rounds):
        event = enqueue(ctx, parts, 10 + i, 200.0)
        events.append(event)
        first = claim(as_("reviewer"))
        assert decide(as_("reviewer"), first, "fraud").json()["outcome"] == "vote"
        second = claim(as_("reviewer2"))
        assert second["id"] == first["id"]
        clients = [http(people.reviewer2), http(people.reviewer2), http(people.reviewer)]
        barrier = threading.Barrier(len(clients))
        answers: list[Any] = [None] * len(clients)

        threads = [threading.Thread(target=race, args=(barrier, answers, k, c, second, second_verdict))
                   for k, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        codes = sorted(a.status_code for a in answers)
        # a loser finds the lease gone (409), or the item already in the adjudication queue it may not review (403)
        assert codes[0] == 200 and set(codes[1:]) <= {403, 409} and 200 not in codes[1:], [a.text for a in answers]
        voters = [v.principal_id for v in rows(ctx, Vote, Vote.item_id == first["id"])]
        decided = rows(ctx, Decision, Decision.item_id == first["id"])
        [row] = rows(ctx, ReviewItem, ReviewItem.id == first["id"])
        if second_verdict == "fraud":  # the second agreeing verdict is the decision itself, not a vote
            assert voters == [people.ids["reviewer"]]
            assert [d.actor for d in decided] == ["reviewer2"] and row.status == "decided"
            assert count(ctx, OutboxAction, OutboxAction.decision_id == decided[0].id) == 4
        else:
            assert voters == [people.ids["reviewer"], people.ids["reviewer2"]]
            assert decided == [] and (row.status, row.queue) == ("pending", "fraud-senior")
            escalations = rows(ctx, AuditEntry, AuditEntry.action == "item.escalated",
                               AuditEntry.target == f"item:{first['id']}")
            assert len(escalations) == 1
    past_undo_window(ctx)
    deliver_all(ctx, parts)
    refunds = [len(parts.stripe.refunds_for(e["context"]["charge_id"])) for e in events]
    assert refunds == [1 if second_verdict == "fraud" else 0] * rounds
    assert count(ctx, Decision) == (rounds if second_verdict == "fraud" else 0)
    assert count(ctx, ReviewItem, ReviewItem.queue == "fraud-senior") == (0 if second_verdict == "fraud" else rounds)
