"""Audits, overturns, undo and reverse on the real parts: refunds at localstripe, Slack messages and webhooks at
the loopback sink, bans in a business SQLite database, the API over HTTP; the clock is the injectable one."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import reviewqueue as rq
from connectors.registry import build_connectors
from reviewqueue.client import Client
from reviewqueue.db.labels import labels_with_features
from reviewqueue.db.tables import AuditEntry, Decision, OutboxAction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, Forbidden, TooLate
from reviewqueue.services import decisions, ingest, outbox, queue, undo
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.settings import Settings
from reviewqueue_dev.demo import create_business_db
from tests.clock import FakeClock
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
WINDOW = 30


@dataclass
class Parts:
    stripe: Any
    sink: Any
    business_db: Path
    connectors: dict[str, Any]

    def banned(self) -> list[str]:
        with sqlite3.connect(self.business_db) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM users WHERE banned = 1 ORDER BY id")]


@pytest.fixture
def clock(ctx):
    ctx.clock = FakeClock()
    return ctx.clock


@pytest.fixture
def parts(ctx, localstripe, sink, tmp_path) -> Iterator[Parts]:
    business_db = tmp_path / "business.db"
    create_business_db(business_db, [f"u{i}" for i in range(100)] + ["u-audit"])
    settings = Settings(environment="test", business_db_url=f"sqlite:///{business_db}",
                        **localstripe.settings_fields(), **sink.settings_fields("shop"))
    connectors = build_connectors(settings)
    yield Parts(localstripe, sink, business_db, connectors)
    for connector in connectors.values():
        connector.close()


@pytest.fixture
def undoable(ctx, monkeypatch):
    """The product's fraud model with a 30 s undo window on "fraud" (legit: none)."""
    monkeypatch.setitem(ctx.registry.model("fraud").undo_seconds, "fraud", float(WINDOW))


@pytest.fixture
def automatic(ctx, monkeypatch):
    """The fraud verdict's actions, each one an automatic decision may fire (as in tests/automatic_fraud.py)."""
    spec = ctx.registry.model("fraud")
    monkeypatch.setitem(spec.verdicts, "fraud", [
        rq.action(a.connector, automatic=True, compensate=a.compensate, irreversible=a.irreversible, **a.params)
        for a in spec.verdicts["fraud"]])


def deliver_all(ctx, parts: Parts) -> None:
    dispatcher = outbox.Dispatcher(ctx, parts.connectors, "w-undo")
    try:
        while dispatcher.run_once():
            pass
    finally:
        dispatcher.close()


def with_charge(parts: Parts, event: dict) -> dict:
    user = event["context"]["user_id"]
    event["context"]["charge_id"] = parts.stripe.create_charge(
        round(event["features"]["amount"] * 100), metadata={"user_id": user})
    return event


def actions_of(ctx, decision_id: int) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(OutboxAction).where(OutboxAction.decision_id == decision_id)))


def one(ctx, table, *where) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(select(table).where(*where)).one()


def counted_labels(ctx) -> list[tuple[str, str]]:
    with ctx.engine.connect() as conn:
        return [(lb.source, lb.value) for lb in labels_with_features(conn, "fraud")]


def audited_flag(ctx, parts: Parts) -> Any:
    """A confident fraud event the stable lottery sends to audit, auto-flagged: all four actions delivered."""
    spec = ctx.registry.model("fraud")
    external_id = next(f"aud{i}" for i in range(100_000) if spec.routing.audited(f"aud{i}"))
    event = {**transaction(0, risky=True), "external_id": external_id}
    event["context"]["user_id"] = "u-audit"
    event = with_charge(parts, event)
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert result.route == "auto_flag" and result.audited and result.item_id
    deliver_all(ctx, parts)
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1
    assert parts.banned() == ["u-audit"]
    assert len(parts.sink.slack_messages) == 1 and len(parts.sink.webhooks) == 1
    return event


def test_an_agreeing_audit_records_the_label_and_fires_nothing_twice(ctx, people, parts, automatic):
    event = audited_flag(ctx, parts)
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    assert item.kind == "audit"
    decided = decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token)
    deliver_all(ctx, parts)
    assert decided.action_ids == []
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1  # no second refund
    assert len(parts.sink.slack_messages) == 1 and len(parts.sink.webhooks) == 1
    assert outbox.counts(ctx).dead == 0
    assert counted_labels(ctx) == [("audit", "fraud")]


def test_overturning_an_auto_flag_unbans_and_follows_up_then_fires_the_new_verdict(ctx, people, parts, automatic):
    event = audited_flag(ctx, parts)
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    decided = decisions.decide(ctx, reviewer, item.id, "legit", item.lease_token, note="known customer")
    deliver_all(ctx, parts)
    assert parts.banned() == []  # the ban's compensation ran in the business database
    [alert, follow_up] = parts.sink.slack_messages
    assert "reversed by reviewer" in follow_up["text"] and event["external_id"] in follow_up["text"]
    events = sorted((h["payload"].get("event", ""), h["payload"]["verdict"]) for h in parts.sink.webhooks)
    # the auto-flag's webhook, its decision.reversed follow-up, and the legit verdict's own webhook
    assert events == [("", "fraud"), ("", "legit"), ("decision.reversed", "fraud")]
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1  # irreversible: it stays
    rows = actions_of(ctx, decided.decision_id)
    assert {(r.connector, r.compensates is not None, r.status) for r in rows} == {
        ("sql", True, "done"), ("slack_message", True, "done"), ("webhook", True, "done"), ("webhook", False, "done")}
    assert counted_labels(ctx) == [("audit", "legit")]


def decide_over_http(api: Client, ctx) -> tuple[Any, Any]:
    item = api.claim_next("fraud")
    assert item is not None
    [fraud] = [v for v in item.verdict_effects if v.verdict == "fraud"]
    assert fraud.label == f"Fraud — refunds ${item.features['amount']:,.2f}, irreversible"
    assert fraud.undo_seconds == WINDOW
    return item, api.decide(item.id, "fraud", item.lease_token, note="card testing")


def test_undo_within_the_window_cancels_everything(ctx, people, parts, undoable, clock, live_api):
    event = with_charge(parts, uncertain(1))
    ingest.ingest(ctx, SYSTEM, "fraud", [event])
    with Client(live_api, people.reviewer) as api:
        item, decided = decide_over_http(api, ctx)
        assert decided.undo_until == clock() + timedelta(seconds=WINDOW)
        assert {r.next_attempt_at for r in actions_of(ctx, decided.decision_id)} == {decided.undo_until}
        clock.advance(WINDOW - 1)
        deliver_all(ctx, parts)  # held: nothing is due yet
        undone = api.undo(decided.decision_id)
        assert undone.change == "undone" and sorted(undone.cancelled_action_ids) == sorted(decided.action_ids)
        with pytest.raises(Conflict, match="already undone"):
            api.undo(decided.decision_id)
    clock.advance(60)
    deliver_all(ctx, parts)
    assert parts.stripe.refunds_for(event["context"]["charge_id"]) == []
    assert parts.banned() == [] and parts.sink.slack_messages == [] and parts.sink.webhooks == []
    assert {r.status for r in actions_of(ctx, decided.decision_id)} == {"cancelled"}
    assert one(ctx, ReviewItem, ReviewItem.id == item.id).status == "pending"
    assert counted_labels(ctx) == []
    decision = one(ctx, Decision, Decision.id == decided.decision_id)
    assert (decision.undone_by, decision.undone_at) == ("reviewer", clock() - timedelta(seconds=60))
    entry = one(ctx, AuditEntry, AuditEntry.action == "decision.undo")
    assert (entry.actor, entry.target) == ("reviewer", f"decision:{decided.decision_id}")
    assert outbox.counts(ctx).cancelled == 4


def test_undo_after_delivery_is_409_and_reverse_fires_the_compensations(ctx, people, parts, undoable, clock,
                                                                       live_api):
    event = with_charge(parts, uncertain(2))
    ingest.ingest(ctx, SYSTEM, "fraud", [event])
    with Client(live_api, people.reviewer) as api:
        item, decided = decide_over_http(api, ctx)
        clock.advance(WINDOW)
        deliver_all(ctx, parts)
        assert parts.banned() == ["u2"] and len(parts.sink.slack_messages) == 1
        with pytest.raises(TooLate, match="too late: 4 actions already delivered; reverse it instead"):
            api.undo(decided.decision_id)
    with Client(live_api, people.reviewer2) as other, pytest.raises(Forbidden):
        other.reverse(decided.decision_id, "not mine")
    with httpx.Client(base_url=live_api, headers={"Authorization": f"Bearer {people.reviewer}"}) as raw:
        no_reason = raw.post(f"/v1/decisions/{decided.decision_id}/reverse", json={})
        assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
        assert raw.post("/v1/decisions/999999/undo").status_code == 404
    with Client(live_api, people.reviewer) as api:
        reversed_ = api.reverse(decided.decision_id, "wrong customer: it was their own card")
    assert len(reversed_.compensation_action_ids) == 3 and len(reversed_.irreversible_action_ids) == 1
    deliver_all(ctx, parts)
    assert parts.banned() == []
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1  # a refund cannot be taken back
    [_, follow_up] = parts.sink.slack_messages
    assert "wrong customer" in follow_up["text"]
    reversed_hook = [h["payload"] for h in parts.sink.webhooks if h["payload"].get("event") == "decision.reversed"]
    assert [(h["decision_id"], h["reason"]) for h in reversed_hook] == [
        (decided.decision_id, "wrong customer: it was their own card")]
    assert one(ctx, ReviewItem, ReviewItem.id == item.id).status == "pending"
    assert counted_labels(ctx) == []
    decision = one(ctx, Decision, Decision.id == decided.decision_id)
    assert (decision.reversed_by, decision.reverse_reason) == ("reviewer", "wrong customer: it was their own card")
    assert one(ctx, AuditEntry, AuditEntry.action == "decision.reverse").actor == "reviewer"
    # the item is decided again: the label follows the new decision
    reviewer = authenticate(ctx, people.reviewer)
    again = queue.claim_next(ctx, reviewer, "fraud")
    decisions.decide(ctx, reviewer, again.id, "legit", again.lease_token)
    assert counted_labels(ctx) == [("reviewer", "legit")]


def test_only_the_decider_or_an_admin_may_undo_and_a_zero_window_cannot_be_undone(ctx, people, parts, undoable,
                                                                                    clock):
    ingest.ingest(ctx, SYSTEM, "fraud", [with_charge(parts, uncertain(3)), with_charge(parts, uncertain(4))])
    reviewer, reviewer2, admin = (authenticate(ctx, getattr(people, n)) for n in ("reviewer", "reviewer2", "admin"))
    first = queue.claim_next(ctx, reviewer, "fraud")
    decided = decisions.decide(ctx, reviewer, first.id, "fraud", first.lease_token)
    with pytest.raises(Forbidden, match="only 'reviewer'"):
        undo.undo(ctx, reviewer2, decided.decision_id)
    assert undo.undo(ctx, admin, decided.decision_id).by == "admin"
    second = queue.claim_next(ctx, reviewer, "fraud")
    legit = decisions.decide(ctx, reviewer, second.id, "legit", second.lease_token)
    assert legit.undo_until is None
    with pytest.raises(TooLate, match="no undo window"):
        undo.undo(ctx, reviewer, legit.decision_id)


def test_undo_and_the_worker_racing_at_the_windows_end_never_both_win(ctx, people, parts, undoable, clock):
    """Released together by a Barrier at exactly decided_at + window, 20 times: exactly one of fired or undone."""
    reviewer = authenticate(ctx, people.reviewer)
    outcomes = []
    for i in range(20):
        event = with_charge(parts, uncertain(10 + i))
        ingest.ingest(ctx, SYSTEM, "fraud", [event])
        item = queue.claim_next(ctx, reviewer, "fraud")
        decided = decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token)
        clock.advance(WINDOW)
        barrier = threading.Barrier(2)
        result: dict[str, Any] = {}

        def worker(barrier: threading.Barrier = barrier, result: dict[str, Any] = result, i: int = i) -> None:
            dispatcher = outbox.Dispatcher(ctx, parts.connectors, f"w-race-{i}")
            try:
                barrier.wait()
                result["leased"] = dispatcher.run_once()
            finally:
                dispatcher.close()

        def undoer(decision_id: int = decided.decision_id, barrier: threading.Barrier = barrier,
                   result: dict[str, Any] = result) -> None:
            barrier.wait()
            try:
                undo.undo(ctx, reviewer, decision_id)
                result["undone"] = True
            except TooLate:
                result["undone"] = False

        threads = [threading.Thread(target=worker), threading.Thread(target=undoer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        deliver_all(ctx, parts)
        statuses = {r.status for r in actions_of(ctx, decided.decision_id)}
        refunds = parts.stripe.refunds_for(item.context["charge_id"])  # an undone item may come back first
        if result["undone"]:
            assert statuses == {"cancelled"} and refunds == [], (i, statuses)
        else:
            assert statuses == {"done"} and len(refunds) == 1, (i, statuses)
        outcomes.append(result["undone"])
    assert len(outcomes) == 20, outcomes


def test_undoing_an_overturn_restores_the_automatic_decisions_cancelled_actions(ctx, people, parts, clock,
                                                                                 monkeypatch):
    """An auto-flag's alerts still wait; a reviewer overturns it ("legit", given a window here) — which cancels
    them — then undoes that: the alerts are pending again and fire once, as if the overturn had never been made;
    the later agreeing "fraud" fires only what the auto-flag could not (refund, ban), never the alerts twice."""
    monkeypatch.setitem(ctx.registry.model("fraud").undo_seconds, "legit", float(WINDOW))
    event = with_charge(parts, transaction(7, risky=True))
    [result] = ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert result.route == "auto_flag" and result.item_id
    automatic = one(ctx, Decision, Decision.prediction_id == result.prediction_id, Decision.source == "model")
    before = {r.id: r.status for r in actions_of(ctx, automatic.id)}
    assert sorted(before.values()) == ["pending", "pending", "refused", "refused"]  # alerts wait; money is human

    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    overturn = decisions.decide(ctx, reviewer, item.id, "legit", item.lease_token, note="slipped")
    cancelled = {r.id for r in actions_of(ctx, automatic.id) if r.status == "cancelled"}
    assert cancelled == {i for i, s in before.items() if s == "pending"}
    undone = undo.undo(ctx, reviewer, overturn.decision_id)
    assert sorted(undone.cancelled_action_ids) == sorted(overturn.action_ids)
    assert {r.id: r.status for r in actions_of(ctx, automatic.id)} == before, "the overturn's cancellations undone"
    entry = one(ctx, AuditEntry, AuditEntry.action == "decision.undo")
    assert sorted(entry.detail["restored"]) == sorted(cancelled)

    clock.advance(WINDOW)
    deliver_all(ctx, parts)
    assert [h["payload"]["verdict"] for h in parts.sink.webhooks] == ["fraud"]  # the auto-flag's, not legit's
    assert len(parts.sink.slack_messages) == 1 and parts.banned() == []
    assert {r.status for r in actions_of(ctx, overturn.decision_id)} == {"cancelled"}

    item = queue.claim_next(ctx, reviewer, "fraud")
    assert item.id == result.item_id
    agreed = decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token)
    assert sorted(r.connector for r in actions_of(ctx, agreed.decision_id)) == ["sql", "stripe_refund"]
    clock.advance(ctx.registry.model("fraud").undo_window("fraud"))
    deliver_all(ctx, parts)
    assert len(parts.stripe.refunds_for(event["context"]["charge_id"])) == 1 and parts.banned() == ["u7"]
    assert len(parts.sink.slack_messages) == 1 and len(parts.sink.webhooks) == 1, "no alert fired twice"
