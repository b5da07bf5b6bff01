"""Workers SIGKILLed at precise points, then restarted; workers racing on one outbox.

Effects are counted where they live: refunds at localstripe, verified webhooks and Slack messages at the
sink, banned users in the business database. Our own tables only say which attempt did what.
"""

from __future__ import annotations

import signal

import pytest

from reviewqueue.client import Client
from reviewqueue_dev.sandbox import wait_until
from tests.faults.proxy import Fault

N_EVENTS = 3  # confident-fraud events: 4 actions each (stripe_refund, slack_message, sql, webhook)
KILL_POINTS = [
    ("stripe_refund", "before_call"),
    ("stripe_refund", "after_call"),
    ("stripe_refund", "before_record"),
    ("stripe_refund", "before_commit"),
    ("webhook", "after_call"),
    ("slack_message", "before_commit"),  # the group dies with posted messages in it: none may be posted twice
]


def victim_of(child) -> str:
    """The action id the killable worker printed just before its SIGKILL."""
    wait_until(lambda: not child.alive, timeout=60, what=f"{child.name} to die at its fault point")
    assert child.process.returncode == -signal.SIGKILL, f"{child.name} exited {child.process.returncode}, " \
        f"not by SIGKILL:\n{child.log_tail()}"
    lines = [line for line in child.log_tail(200).splitlines() if line.startswith("FAULT ")]
    assert len(lines) == 1, f"expected one FAULT line:\n{child.log_tail()}"
    return lines[0].split()[3]


@pytest.mark.parametrize(("connector", "point"), KILL_POINTS, ids=[f"{c}-{p}" for c, p in KILL_POINTS])
def test_worker_killed_at_a_point_then_restarted_delivers_each_effect_once(rig, people, connector, point):
    """Injects: one SIGKILL of the dispatcher at ``point`` of the 2nd ``connector`` call (concurrency 1, so
    every other action is either recorded or not started). Counts: refunds per charge, verified webhooks
    and webhook requests per action, Slack messages per action, banned users; attempts of the victim."""
    events = rig.ingest_flagged(people.integration, N_EVENTS, offset=100)
    total = 4 * N_EVENTS
    dying = rig.start_killable("killable", point, connector, nth=2, worker_concurrency=1,
                               outbox_batch_size=total, outbox_visibility_seconds=2)
    victim_id = victim_of(dying)
    [victim] = [a for a in rig.actions() if a.id == victim_id]
    charge = victim.payload["context"]["charge_id"]
    assert (victim.status, victim.attempts) == ("in_flight", 1), f"the victim at the kill: {victim.status}"
    at_kill = {
        "refunds": len(rig.stripe.refunds_for(charge)), "webhook_requests": rig.webhook_attempts()[victim_id],
        "done": rig.status_counts()["done"],
    }
    provider_was_called = point != "before_call"
    if connector == "stripe_refund":
        assert at_kill["refunds"] == int(provider_was_called), f"kill at {point}: {at_kill}"
    if connector == "webhook":
        assert at_kill["webhook_requests"] == 1, f"kill at {point}: {at_kill}"

    # restarted: the same dispatcher, no fault; it reclaims the victim once the dead worker's lease (2 s) ends
    rig.start_dispatcher("restarted")
    rig.wait_settled(total)
    effects = rig.assert_flagged_effects_once(events, note=f"killed at {connector}:{point} (at kill {at_kill}): ")
    [victim] = [a for a in rig.actions() if a.id == victim_id]
    assert victim.attempts == 2 and victim.outcome_unknown, \
        f"the victim is retried once, looking before acting: attempts={victim.attempts}"
    if connector == "stripe_refund":
        [refund] = rig.stripe.refunds_for(charge)
        assert victim.outcome["refund_id"] == refund["id"], "the recorded outcome is the one refund that exists"
    if connector == "webhook":
        assert rig.webhook_attempts()[victim_id] == 2, "re-sent once with the same webhook-id, deduped"
    with Client(rig.api_url, people.admin) as admin:
        counts = admin.action_counts()
    assert (counts.done, counts.dead, counts.total) == (total, 0, total), \
        f"killed at {connector}:{point}; at kill {at_kill}; after restart {counts}; effects {effects}"


def test_three_workers_racing_on_one_outbox_run_no_action_twice(rig, people):
    """Injects: three dispatcher processes (the real Dispatcher and connectors), all polling, then 60 actions
    due at once; outbox_batch_size 3. Counts: actions leased per pass and per racer (each pass at most 3,
    60 in all), every action's attempts (must be 1: leased once), requests per webhook-id and Slack messages
    per action at the sink (raw, duplicates included), refunds per charge at localstripe, banned users."""
    events = rig.flagged_events(15, offset=200)
    total = 60
    racers = [rig.start_dispatcher(f"racer-{i}", outbox_batch_size=3, worker_concurrency=2) for i in range(3)]
    wait_until(lambda: all("READY" in r.log_tail(5) for r in racers), timeout=60, what="three racers polling")
    rig.predict(people.integration, events, "auto_flag")  # 60 actions appear at once, in one commit
    rig.wait_settled(total, timeout=90)
    passes = {r.name: [int(line.split()[1]) for line in r.log_tail(500).splitlines() if line.startswith("HANDLED ")]
              for r in racers}
    leased = {name: sum(p) for name, p in passes.items()}
    assert sum(leased.values()) == total, f"actions leased per racer {leased}: {sum(leased.values())} != {total}"
    assert max(max(p, default=0) for p in passes.values()) <= 3, \
        f"a pass leased more than outbox_batch_size=3 actions: actions per pass {passes}"
    assert sum(1 for n in leased.values() if n) >= 2, f"the racers did not overlap: {leased}"
    attempts = {a.id: a.attempts for a in rig.actions()}
    twice = {a: n for a, n in attempts.items() if n != 1}
    assert not twice, f"actions leased more than once: {twice}"
    raw_hooks = rig.webhook_attempts()
    assert set(raw_hooks.values()) == {1} and len(raw_hooks) == 15, f"webhook requests per action: {raw_hooks}"
    rig.assert_flagged_effects_once(events, note="3 racing workers: ")


def test_slow_provider_longer_than_the_batch_lease_is_not_delivered_twice(rig, people):
    """Injects: a slow but healthy webhook receiver (each request 0.5 s, well under the 2 s timeout and the 2 s
    visibility) while worker A works through a leased batch of 8 (concurrency 1: ~4 s, longer than the
    visibility), and a second worker B started meanwhile. Counts: requests per webhook-id at the receiver
    (must be 1 each)."""
    proxy = rig.proxy(rig.sink.url)
    proxy.always(Fault.delay(0.5))
    settings = {"webhook_url": f"{proxy.url}/webhooks/shop", "webhook_timeout_seconds": 2,
                "outbox_visibility_seconds": 2, "outbox_batch_size": 8, "worker_concurrency": 1}
    rig.ingest_legit(people.integration, 8, offset=300)
    rig.start_dispatcher("worker-a", **settings)
    wait_until(lambda: proxy.seen(), timeout=30, what="worker A's first delivery")
    rig.start_dispatcher("worker-b", **settings)
    rig.wait_settled(8, timeout=60)
    per_id = rig.webhook_attempts()
    twice = {a: n for a, n in per_id.items() if n > 1}
    assert not twice, (f"{len(twice)} of 8 actions were delivered more than once (a second worker reclaimed them "
                       f"while the first was still delivering its batch): {twice}; "
                       f"attempts {sorted(a.attempts for a in rig.actions())}")
    assert len(rig.sink.webhooks) == 8
