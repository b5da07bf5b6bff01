"""The outbox drives every action to an end state: done, or dead with attempts and last error; replayable."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from connectors.base import ActionContext
from connectors.slack_message import SlackMessageConnector
from reviewqueue.db import outbox as outbox_queries
from reviewqueue.db.tables import OutboxAction
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, Forbidden, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.services import decisions, ingest, outbox, queue
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.settings import Settings
from reviewqueue.testing import RecordingConnector
from reviewqueue_dev.sandbox import Sink, wait_until
from tests.automatic import all_actions_automatic
from tests.clock import FakeClock, past_undo_window
from tests.factories import transaction, uncertain

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
    """A reviewer's "fraud", its undo window then waited out on ``ctx.clock`` (a FakeClock from here on): its four
    actions are due."""
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0)])
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    action_ids = decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token).action_ids
    past_undo_window(ctx)
    return action_ids


def test_every_action_of_a_decision_is_delivered_once(ctx, people, fakes):
    action_ids = decide_fraud(ctx, people)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    drain(dispatcher)
    assert set(statuses(ctx).values()) == {"done"}
    delivered = [a.action_id for f in fakes.values() for a in f.delivered]
    assert sorted(delivered) == sorted(action_ids)
    assert fakes["stripe_refund"].delivered[0].payload["context"]["charge_id"] == "ch_u0"
    counts = outbox.counts(ctx)
    assert counts.model_dump() == {"pending": 0, "in_flight": 0, "done": 4, "dead": 0, "total": 4,
                                   "refused": 0, "cancelled": 0, "done_estimated": False}


def test_retryable_failures_back_off_then_succeed_once(ctx, people, fakes):
    decide_fraud(ctx, people)
    clock = ctx.clock
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
    clock = ctx.clock
    fakes["slack_message"].fail_next(3, RetryableDeliveryError("rate limited"))
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    drain(dispatcher, clock)
    with ctx.engine.connect() as conn:
        dead = conn.execute(select(OutboxAction).where(OutboxAction.status == "dead")).one()
    assert (dead.connector, dead.attempts) == ("slack_message", 3) and "rate limited" in dead.last_error
    assert outbox.counts(ctx).model_dump() == {"pending": 0, "in_flight": 0, "done": 3, "dead": 1, "total": 4,
                                  "refused": 0, "cancelled": 0, "done_estimated": False}
    admin, reviewer = authenticate(ctx, people.admin), authenticate(ctx, people.reviewer)
    listed = outbox.list_actions(ctx, reviewer, "dead", None, None, 50)
    assert [a.id for a in listed] == [dead.id] and not hasattr(listed[0], "payload")
    with pytest.raises(Forbidden):
        outbox.replay(ctx, reviewer, dead.id)
    replayed = outbox.replay(ctx, admin, dead.id)
    assert replayed.status == "pending" and replayed.attempts == 0
    with pytest.raises(Conflict, match="only dead actions"):
        outbox.replay(ctx, admin, dead.id)
    drain(dispatcher, clock)
    assert outbox.counts(ctx).done == 4 and len(fakes["slack_message"].delivered) == 1


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
    clock = ctx.clock

    with ctx.engine.begin() as conn:  # a worker leases the batch ... and dies before delivering
        leased = outbox_queries.lease_outbox_batch(conn, "dead-worker", clock(), 10, 60)
    assert len(leased) == 4
    survivor = outbox.Dispatcher(ctx, fakes, "w2")
    assert survivor.run_once() == 0, "in-flight actions are not taken while their lease is live"
    clock.advance(61)
    drain(survivor)
    assert set(statuses(ctx).values()) == {"done"}
    assert all(a.outcome_unknown and a.attempt == 2 for f in fakes.values() for a in f.delivered)
    # the dead worker's late report is ignored: it no longer holds the action
    with ctx.engine.begin() as conn:
        assert not outbox_queries.finish_action(conn, leased[0].id, "dead-worker", {"status": "dead"})
        assert outbox_queries.record_outcomes(conn, "dead-worker", {a.id: {"status": "dead"} for a in leased}) == set()


def test_auto_decisions_fire_actions_with_source_model(ctx, fakes):
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1, risky=True)])
    drain(outbox.Dispatcher(ctx, fakes, "w1"))
    [alert] = fakes["slack_message"].delivered
    assert alert.payload["source"] == "model" and alert.payload["actor"] == "model:fraud"
    assert alert.payload["verdict"] == "fraud"
    assert fakes["stripe_refund"].delivered == [] and fakes["sql"].delivered == []  # human-only: refused


def test_counts_always_add_up(ctx, people, fakes):
    decide_fraud(ctx, people)
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(i, risky=True) for i in range(5)])
    fakes["webhook"].fail_next(3)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    for _ in range(3):
        counts = outbox.counts(ctx)
        assert counts.total == 24 and counts.refused == 10  # each auto-flag's refund and ban: human-only
        assert counts.pending + counts.in_flight + counts.done + counts.dead + counts.refused == counts.total
        dispatcher.run_once()


# -- outcomes are recorded in groups -------------------------------------------------------------------------


class Gated(RecordingConnector):
    """Holds every delivery until released: a slow provider."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.release = threading.Event()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        assert self.release.wait(30), "never released"
        return super().deliver(action)


def spy_on_groups(monkeypatch) -> list[dict[str, str]]:
    """Each group the dispatcher records: action id → outcome status."""
    groups: list[dict[str, str]] = []
    real = outbox_queries.record_outcomes

    def record_outcomes(conn, worker_id, outcomes):
        groups.append({a: str(o["status"]) for a, o in outcomes.items()})
        return real(conn, worker_id, outcomes)

    monkeypatch.setattr(outbox_queries, "record_outcomes", record_outcomes)
    return groups


def test_a_slow_provider_does_not_hold_back_recording_the_fast_ones(ctx, people, fakes):
    """The batch's fast outcomes are committed within a flush window while the slow one is still in flight."""
    decide_fraud(ctx, people)
    fakes["webhook"] = slow = Gated("webhook")
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    passing = threading.Thread(target=dispatcher.run_once)
    passing.start()
    try:
        wait_until(lambda: sorted(statuses(ctx).values()) == ["done", "done", "done", "in_flight"], timeout=10,
                   what="the three fast actions recorded while the webhook hangs")
    finally:
        slow.release.set()
        passing.join(30)
    assert set(statuses(ctx).values()) == {"done"}
    dispatcher.close()


def test_a_group_is_flushed_when_it_reaches_its_size(ctx, people, fakes, monkeypatch):
    """24 actions, groups of at most 10, no time-based flush: three transactions (10, 10, 4), one per group."""
    decide_fraud(ctx, people)
    all_actions_automatic(monkeypatch, ctx)
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(i, risky=True) for i in range(5)])
    groups = spy_on_groups(monkeypatch)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    dispatcher.flush_max_outcomes, dispatcher.flush_after_seconds = 10, 3600
    fakes["sql"].fail_next(1, PermanentDeliveryError("no such table: users"))
    fakes["webhook"].fail_next(2)

    assert dispatcher.run_once() == 24
    assert sorted(len(g) for g in groups) == [4, 10, 10]
    assert sorted(s for g in groups for s in g.values()) == ["dead"] + ["done"] * 21 + ["pending"] * 2
    assert outbox.counts(ctx).model_dump() == {"pending": 2, "in_flight": 0, "done": 21, "dead": 1, "total": 24,
                                  "refused": 0, "cancelled": 0, "done_estimated": False}
    dispatcher.close()


def test_a_lost_lease_records_nothing_for_that_action_only(ctx, people, fakes, caplog):
    """Mid-delivery another worker takes one action over: its outcome is not written, the rest of the group's is."""
    decide_fraud(ctx, people)

    class Usurped(RecordingConnector):
        def deliver(self, action: ActionContext) -> dict[str, Any]:
            with ctx.engine.begin() as conn:
                conn.execute(update(OutboxAction).where(OutboxAction.id == action.action_id)
                             .values(leased_by="another-worker"))
            return super().deliver(action)

    fakes["slack_message"] = Usurped("slack_message")
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    with caplog.at_level(logging.WARNING, logger="reviewqueue.services.outbox"):
        dispatcher.run_once()
    with ctx.engine.connect() as conn:
        rows = {r.connector: r for r in conn.execute(select(OutboxAction))}
    assert (rows["slack_message"].status, rows["slack_message"].leased_by) == ("in_flight", "another-worker")
    assert {r.status for c, r in rows.items() if c != "slack_message"} == {"done"}
    lost = [r for r in caplog.records if getattr(r, "action", None) == "outbox_lease_lost"]
    assert [getattr(r, "action_id", None) for r in lost] == [rows["slack_message"].id]
    dispatcher.close()


def test_a_failed_flush_is_kept_and_retried(ctx, people, fakes, monkeypatch):
    """The database drops the recording transaction once: the group is written by the next try, not lost."""
    decide_fraud(ctx, people)
    real = outbox_queries.record_outcomes
    failures = [OperationalError("UPDATE", {}, Exception("server closed the connection"))]

    def flaky(conn, worker_id, outcomes):
        if failures:
            raise failures.pop()
        return real(conn, worker_id, outcomes)

    monkeypatch.setattr(outbox_queries, "record_outcomes", flaky)
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    dispatcher.flush_retry_seconds = 0.01
    dispatcher.run_once()
    assert set(statuses(ctx).values()) == {"done"} and not failures
    assert all(len(f.calls) == 1 for f in fakes.values()), "recorded, not delivered again"
    dispatcher.close()


class Killed(BaseException):
    """Stands in for SIGKILL: escapes every except Exception, and the open transaction is never committed."""


@pytest.fixture
def slack_sink() -> Iterator[Sink]:
    with Sink() as sink:
        yield sink


def test_a_group_lost_before_its_commit_is_redelivered_with_one_slack_message_each(ctx, people, fakes, monkeypatch,
                                                                                 slack_sink):
    """Two decisions' actions, Slack's included, delivered and grouped; the worker dies before the group's
    COMMIT. After the lease runs out another worker re-delivers them as outcome-unknown: the real Slack
    connector finds each message it posted (by the action id in its metadata) instead of posting again."""
    all_actions_automatic(monkeypatch, ctx)
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(i, risky=True) for i in range(2)])
    ctx.clock = clock = FakeClock()
    slack = SlackMessageConnector(Settings(environment="test", **slack_sink.settings_fields()))
    fakes["slack_message"] = slack
    groups = spy_on_groups(monkeypatch)
    real = outbox_queries.record_outcomes

    def die_before_commit(conn, worker_id, outcomes):
        real(conn, worker_id, outcomes)
        raise Killed

    monkeypatch.setattr(outbox_queries, "record_outcomes", die_before_commit)
    dying = outbox.Dispatcher(ctx, fakes, "dying")
    dying.flush_after_seconds = 3600  # one group for the whole batch
    with pytest.raises(Killed):
        dying.run_once()
    dying.close()
    assert [sorted(g.values()) for g in groups] == [["done"] * 8], "one group of 8 delivered actions"
    assert len(slack_sink.slack_messages) == 2 and set(statuses(ctx).values()) == {"in_flight"}

    monkeypatch.setattr(outbox_queries, "record_outcomes", real)
    clock.advance(61)  # the dead worker's lease (60 s) runs out
    drain(outbox.Dispatcher(ctx, fakes, "survivor"))
    with ctx.engine.connect() as conn:
        rows = list(conn.execute(select(OutboxAction)))
    assert {(r.status, r.attempts, r.outcome_unknown) for r in rows} == {("done", 2, True)}
    posted = {m["metadata"]["event_payload"]["action_id"]: m["ts"] for m in slack_sink.slack_messages}
    assert len(slack_sink.slack_messages) == 2, "exactly one Slack message per action"
    assert {r.id: r.outcome["ts"] for r in rows if r.connector == "slack_message"} == posted
    slack.close()
