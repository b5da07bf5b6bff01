"""The outbox drives every action to an end state: done, or dead with attempts and last error; replayable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewqueue.db.tables import OutboxAction
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, Forbidden, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.services import decisions, ingest, outbox, queue
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.testing import RecordingConnector
from tests.clock import FakeClock
from tests.conftest import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
CONNECTORS = ("stripe_refund", "slack_message", "sql", "webhook")


@pytest.fixture
def fakes():
    return {name: RecordingConnector(name) for name in CONNECTORS}


def statuses(ctx) -> dict[str, str]:
    with ctx.engine.connect() as conn:
        return {r.id: r.status for r in conn.execute(select(OutboxAction.id, OutboxAction.status))}


def drain(dispatcher: outbox.Dispatcher, clock: FakeClock | None = None, rounds: int = 50) -> None:
    """Run passes until nothing is due; with a fake clock, jump over retry delays."""
    for _ in range(rounds):
        handled = dispatcher.run_once()
        if handled == 0:
            if clock is None:
                return
            clock.advance(400)
            if dispatcher.run_once() == 0:
                return


def decide_fraud(ctx, people) -> list[str]:
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0)])
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    return decisions.decide(ctx, reviewer, item["id"], "fraud", item["lease_token"]).action_ids


def test_every_action_of_a_decision_is_delivered_once(ctx, people, fakes):
    action_ids = decide_fraud(ctx, people)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    drain(dispatcher)
    assert set(statuses(ctx).values()) == {"done"}
    delivered = [a.action_id for f in fakes.values() for a in f.delivered]
    assert sorted(delivered) == sorted(action_ids)
    assert fakes["stripe_refund"].delivered[0].payload["context"]["charge_id"] == "ch_u0"
    counts = outbox.counts(ctx)
    assert counts == {"pending": 0, "in_flight": 0, "done": 4, "dead": 0, "total": 4}


def test_retryable_failures_back_off_then_succeed_once(ctx, people, fakes):
    decide_fraud(ctx, people)
    ctx.clock = clock = FakeClock()
    fakes["webhook"].fail_next(2, RetryableDeliveryError("503 from receiver", retry_after=30))
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    dispatcher.run_once()
    with ctx.engine.connect() as conn:
        hook = conn.execute(select(OutboxAction).where(OutboxAction.connector == "webhook")).one()
    assert hook.status == "pending" and hook.attempts == 1 and "503" in hook.last_error
    assert hook.outcome_unknown, "a failed attempt may have reached the provider: look before acting again"
    assert (hook.next_attempt_at - clock()).total_seconds() >= 30, "Retry-After is honoured"
    drain(dispatcher, clock)
    assert set(statuses(ctx).values()) == {"done"}
    assert len(fakes["webhook"].calls) == 3 and len(fakes["webhook"].delivered) == 1
    assert fakes["webhook"].calls[-1].attempt == 3 and fakes["webhook"].calls[-1].outcome_unknown


def test_dead_after_max_attempts_then_admin_replay_delivers(ctx, people, fakes):
    decide_fraud(ctx, people)
    ctx.settings.outbox_max_attempts = 3
    ctx.clock = clock = FakeClock()
    fakes["slack_message"].fail_next(3, RetryableDeliveryError("rate limited"))
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    drain(dispatcher, clock)
    with ctx.engine.connect() as conn:
        dead = conn.execute(select(OutboxAction).where(OutboxAction.status == "dead")).one()
    assert (dead.connector, dead.attempts) == ("slack_message", 3) and "rate limited" in dead.last_error
    assert outbox.counts(ctx) == {"pending": 0, "in_flight": 0, "done": 3, "dead": 1, "total": 4}
    admin, reviewer = authenticate(ctx, people.admin), authenticate(ctx, people.reviewer)
    listed = outbox.list_actions(ctx, reviewer, "dead", None, None, 50)
    assert [a["id"] for a in listed] == [dead.id] and "payload" not in listed[0]
    with pytest.raises(Forbidden):
        outbox.replay(ctx, reviewer, dead.id)
    replayed = outbox.replay(ctx, admin, dead.id)
    assert replayed["status"] == "pending" and replayed["attempts"] == 0
    with pytest.raises(Conflict, match="only dead actions"):
        outbox.replay(ctx, admin, dead.id)
    drain(dispatcher, clock)
    assert outbox.counts(ctx)["done"] == 4 and len(fakes["slack_message"].delivered) == 1


def test_permanent_errors_and_unconfigured_connectors_dead_letter_visibly(ctx, people, fakes):
    decide_fraud(ctx, people)
    fakes["sql"].fail_next(1, PermanentDeliveryError("no such table: users"))
    del fakes["stripe_refund"]  # this worker has no Stripe configured
    drain(outbox.Dispatcher(ctx, fakes, "w1"))
    with ctx.engine.connect() as conn:
        dead = {r.connector: r for r in conn.execute(select(OutboxAction).where(OutboxAction.status == "dead"))}
    assert set(dead) == {"sql", "stripe_refund"}
    assert dead["sql"].attempts == 1 and "no such table" in dead["sql"].last_error
    assert "ConnectorNotConfigured" in dead["stripe_refund"].last_error


def test_actions_of_a_vanished_worker_are_reclaimed_as_outcome_unknown(ctx, people, fakes):
    decide_fraud(ctx, people)
    ctx.clock = clock = FakeClock()
    from reviewqueue.db import queries

    with ctx.engine.begin() as conn:  # a worker leases the batch ... and dies before delivering
        leased = queries.lease_outbox_batch(conn, "dead-worker", clock(), 10, 60)
    assert len(leased) == 4
    survivor = outbox.Dispatcher(ctx, fakes, "w2")
    assert survivor.run_once() == 0, "in-flight actions are not taken while their lease is live"
    clock.advance(61)
    drain(survivor)
    assert set(statuses(ctx).values()) == {"done"}
    assert all(a.outcome_unknown and a.attempt == 2 for f in fakes.values() for a in f.delivered)
    # the dead worker's late report is ignored: it no longer holds the action
    with ctx.engine.begin() as conn:
        assert not queries.finish_action(conn, leased[0].id, "dead-worker", {"status": "dead"})


def test_auto_decisions_fire_actions_with_source_model(ctx, fakes):
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1, risky=True)])
    drain(outbox.Dispatcher(ctx, fakes, "w1"))
    [refund] = fakes["stripe_refund"].delivered
    assert refund.payload["source"] == "model" and refund.payload["actor"] == "model:fraud"
    assert refund.payload["verdict"] == "fraud"


def test_counts_always_add_up(ctx, people, fakes):
    decide_fraud(ctx, people)
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(i, risky=True) for i in range(5)])
    fakes["webhook"].fail_next(3)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    for _ in range(3):
        counts = outbox.counts(ctx)
        assert counts["total"] == 24
        assert counts["pending"] + counts["in_flight"] + counts["done"] + counts["dead"] == counts["total"]
        dispatcher.run_once()
