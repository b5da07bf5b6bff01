"""A person's decision waits out its undo window; the worker that takes its actions as the window closes is
SIGKILLed mid-delivery, then restarted: each effect still happens exactly once, and the undo that comes after
the worker took an action is refused (409 too late). Effects are counted at the peers."""

from __future__ import annotations

import signal

import pytest

from reviewqueue.client import Client
from reviewqueue.errors import TooLate
from reviewqueue_dev.sandbox import wait_until

WINDOW = 3.0  # real seconds: the worker is another process, on the real clock


def test_a_worker_killed_as_the_undo_window_closes_still_delivers_each_effect_once(rig, people, monkeypatch):
    """Injects: one SIGKILL of the dispatcher right after localstripe answered the refund of a decision whose
    3 s undo window just closed. Counts: refunds per charge, verified webhooks, Slack messages per action and
    banned users after a restart; the victim's attempts; the undo's answer while the victim is in flight."""
    monkeypatch.setitem(rig.ctx.registry.model("fraud").undo_seconds, "fraud", WINDOW)
    dying = rig.start_killable("killable", "after_call", "stripe_refund", nth=1, worker_concurrency=1,
                               outbox_batch_size=4, outbox_visibility_seconds=2)
    wait_until(lambda: "READY" in dying.log_tail(5), timeout=60, what="the killable worker polling")
    [event] = rig.ingest_for_review(people.integration, 1, offset=300)
    with Client(rig.api_url, people.reviewer) as reviewer:
        item = reviewer.claim_next("fraud")
        assert item is not None
        decided = reviewer.decide(item.id, "fraud", item.lease_token)
    assert decided.undo_until is not None
    held = [a for a in rig.actions() if a.decision_id == decided.decision_id]
    assert len(held) == 4 and {a.next_attempt_at for a in held} == {decided.undo_until}

    wait_until(lambda: not dying.alive, timeout=60, what="the worker to die at the refund, once the window closed")
    assert dying.process.returncode == -signal.SIGKILL, dying.log_tail()
    [victim] = [a for a in rig.actions() if a.connector == "stripe_refund"]
    assert (victim.status, victim.attempts) == ("in_flight", 1)
    assert len(rig.stripe.refunds_for(event["context"]["charge_id"])) == 1  # the provider answered before the kill
    with Client(rig.api_url, people.reviewer) as reviewer, pytest.raises(TooLate, match="already delivered"):
        reviewer.undo(decided.decision_id)

    rig.start_dispatcher("restarted")  # reclaims the victim once the dead worker's 2 s lease ends
    rig.wait_settled(4)
    rig.assert_flagged_effects_once([event], note="killed as the undo window closed: ")
    [victim] = [a for a in rig.actions() if a.connector == "stripe_refund"]
    assert victim.attempts == 2 and victim.outcome_unknown, "retried once, looking before acting"
