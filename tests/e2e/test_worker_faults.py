"""Faults against a real worker subprocess: SIGKILL in the middle of a batch, workers racing, and a
provider that fails before it succeeds. Effects are counted at the peers (localstripe, the sink, the
business DB), not in our own tables.

The stack serves tests/automatic_fraud.py (every action automatic), so each auto-flagged event fires its four
actions; each charge is of the event's amount, currency and user, as the refund connector requires."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from reviewqueue.client import Client
from reviewqueue.db.tables import OutboxAction
from reviewqueue_dev.sandbox import wait_until
from tests.automatic_fraud import MODULE as AUTOMATIC_FRAUD
from tests.factories import transaction

N = 30  # auto-flagged transactions → 4 actions each


@pytest.fixture
def stack_model_modules() -> list[str]:
    return [AUTOMATIC_FRAUD]


def done_count(ctx) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxAction.__table__)
                                .where(OutboxAction.__table__.c.status == "done")).scalar_one())


def ingest_flagged(stack, people, n: int, offset: int = 1000) -> list[dict]:
    events = []
    for i in range(offset, offset + n):
        event = transaction(i, risky=True)
        context = event["context"]
        context["charge_id"] = stack.stripe.create_charge(
            round(event["features"]["amount"] * 100), context["currency"], metadata={"user_id": context["user_id"]})
        events.append(event)
    results = Client(stack.api_url, people.integration).predict("fraud", events)
    assert {r.route for r in results} == {"auto_flag"}
    return events


def assert_each_effect_once(stack, events: list[dict]) -> None:
    refunds = {e["context"]["charge_id"]: len(stack.stripe.refunds_for(e["context"]["charge_id"])) for e in events}
    twice = {c: n for c, n in refunds.items() if n != 1}
    assert not twice, f"refunds per charge must be exactly 1; off: {twice} of {len(refunds)} charges"
    amounts = {e["context"]["charge_id"]: ([r["amount"] for r in stack.stripe.refunds_for(e["context"]["charge_id"])],
                                           round(e["features"]["amount"] * 100)) for e in events}
    wrong = {c: (got, want) for c, (got, want) in amounts.items() if got != [want]}
    assert not wrong, f"refunds (cents) vs the event's amount, per charge: {wrong}"
    hooks = Counter(h["payload"]["external_id"] for h in stack.sink.webhooks)
    assert hooks == Counter(e["external_id"] for e in events), f"verified webhooks per event: {hooks}"
    attempts = Counter(a["webhook_id"] for a in stack.sink.webhook_attempts if a.get("webhook_id"))
    assert len(attempts) == len(events), "a retried webhook keeps its webhook-id, so receivers can dedupe"
    banned = sorted(u for u, _, _ in stack.banned_users())
    assert banned == sorted(e["context"]["user_id"] for e in events)


def test_worker_killed_mid_batch_then_restarted_delivers_each_effect_once(stack, people):
    events = ingest_flagged(stack, people, N)
    total = N * 4
    worker = stack.start_worker("worker-1", worker_concurrency=1, outbox_batch_size=total)
    wait_until(lambda: done_count(stack.ctx) >= total // 4, timeout=60, what="a quarter of the actions done")
    worker.kill()  # SIGKILL: in flight actions keep their lease and outcome is unknown
    done_at_kill = done_count(stack.ctx)
    assert done_at_kill < total, f"killed too late: {done_at_kill}/{total} already done"
    # two fresh workers race for what is left (the dead worker's lease expires after 5 s)
    stack.start_worker("worker-2")
    stack.start_worker("worker-3")
    try:
        wait_until(lambda: done_count(stack.ctx) == total, timeout=90, what="every action done after restart")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {done_count(stack.ctx)}/{total}\n{stack.logs_tail()}") from None
    assert_each_effect_once(stack, events)
    counts = Client(stack.api_url, people.admin).action_counts()
    assert (counts.done, counts.dead, counts.total) == (total, 0, total), \
        f"killed at {done_at_kill}/{total} done; after restart {counts}"


def test_provider_500_then_429_with_retry_after_then_success_delivers_once(stack, people):
    stack.sink.fail_next(1, status=500, endpoint="webhook")
    stack.sink.rate_limit_next(1, retry_after=1, endpoint="webhook")
    [result] = Client(stack.api_url, people.integration).predict("fraud", [transaction(7)])
    assert result.route == "auto_pass"  # legit: its only action is the webhook
    started = time.monotonic()
    stack.start_worker()
    wait_until(lambda: done_count(stack.ctx) == 1, timeout=30, what="the webhook action done")
    elapsed = time.monotonic() - started
    with stack.ctx.engine.connect() as conn:
        action = conn.execute(select(OutboxAction)).one()
    statuses = [a["status"] for a in stack.sink.webhook_attempts]
    assert statuses == [500, 429, 200], statuses
    assert action.attempts == 3 and action.status == "done"
    assert len(stack.sink.webhooks) == 1
    assert len({a["webhook_id"] for a in stack.sink.webhook_attempts}) == 1
    assert elapsed >= 1.0, "the worker waited at least the provider's Retry-After"
