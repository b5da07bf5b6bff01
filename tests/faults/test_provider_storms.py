"""Provider storms: 500s, 429 with and without Retry-After, timeouts, then recovery (against the product's
worker, `reviewqueue worker`); dead-lettering after outbox_max_attempts and an admin replay that delivers
once, and backoff after timeouts (against the same Dispatcher and connectors in tests/faults/killable_worker.py,
which starts faster)."""

from __future__ import annotations

import time

import httpx

from reviewqueue_dev.sandbox import wait_until
from tests.faults.proxy import Fault

BASE, CAP = 0.1, 0.4  # retry_base_seconds, retry_max_seconds: delay n = min(CAP, BASE·2^(n-1)), jittered to [½, 1]
# Gaps are measured between request arrivals at the proxy, not between the worker's decisions: a retried refund
# first looks its refund up (a GET), which shifts its POST by a few milliseconds either way.
TOL = 0.03


def gaps(requests) -> list[float]:
    return [round(b.arrived - a.arrived, 3) for a, b in zip(requests, requests[1:], strict=False)]


def min_gap(attempt: int) -> float:
    """The shortest delay the retry policy may draw after failed attempt ``attempt``."""
    return min(CAP, BASE * 2 ** (attempt - 1)) / 2


def test_storm_then_recovery_retries_with_backoff_and_delivers_each_effect_once(rig, people):
    """Injects, on one fraud decision's actions: Stripe refund POST → 500, 429, 429 + Retry-After: 1;
    webhook → no answer within webhook_timeout_seconds (0.5 s), 500, 429, 429 + Retry-After: 1;
    Slack → 503, 429 + Retry-After: 1. Counts: requests per provider and their spacing, attempts per
    action, refunds at localstripe, verified webhooks and Slack messages at the sink."""
    stripe_proxy = rig.proxy(rig.stripe.url)
    refund_posts = lambda r: r.method == "POST" and r.path.startswith("/v1/refunds")  # noqa: E731
    stripe_proxy.script(Fault.status(500), Fault.status(429), Fault.status(429, retry_after=1), when=refund_posts)
    hook_proxy = rig.proxy(rig.sink.url)
    hook_proxy.script(Fault.hang(), Fault.status(500), Fault.status(429), Fault.status(429, retry_after=1))
    rig.sink.fail_next(1, status=503, endpoint="slack")
    rig.sink.rate_limit_next(1, retry_after=1, endpoint="slack")
    [event] = rig.ingest_flagged(people.integration, 1, offset=500)
    started = time.monotonic()
    rig.start_worker(stripe_api_base=stripe_proxy.url, webhook_url=f"{hook_proxy.url}/webhooks/shop",
                     webhook_timeout_seconds=0.5, outbox_max_attempts=6, retry_base_seconds=BASE,
                     retry_max_seconds=CAP, worker_concurrency=4)
    rig.wait_settled(4, timeout=60)
    elapsed = time.monotonic() - started
    attempts = {a.connector: a.attempts for a in rig.actions()}
    assert attempts == {"stripe_refund": 4, "webhook": 5, "slack_message": 3, "sql": 1}, attempts

    posts = stripe_proxy.seen(refund_posts)
    assert [r.fault for r in posts] == ["500", "429", "429+retry-after", "forward"], [r.fault for r in posts]
    stripe_gaps = gaps(posts)
    assert all(g >= min_gap(n) - TOL for n, g in enumerate(stripe_gaps[:2], start=1)), f"backoff: {stripe_gaps}"
    assert stripe_gaps[2] >= 1.0 - TOL, f"Stripe's Retry-After: 1 honoured: {stripe_gaps}"

    hooks = hook_proxy.seen()
    assert [r.fault for r in hooks] == ["hang", "500", "429", "429+retry-after", "forward"], [r.fault for r in hooks]
    hook_gaps = gaps(hooks)
    assert hook_gaps[0] >= 0.5, f"the hung request was given up after webhook_timeout_seconds: {hook_gaps}"
    assert all(g >= min_gap(n) - TOL for n, g in enumerate(hook_gaps[1:3], start=2)), f"backoff: {hook_gaps}"
    assert hook_gaps[3] >= 1.0 - TOL, f"the receiver's Retry-After: 1 honoured: {hook_gaps}"
    assert len({r.headers["webhook-id"] for r in hooks}) == 1, "every retry carries the same webhook-id"

    effects = rig.assert_flagged_effects_once([event], note="after the storm: ")
    assert elapsed >= 1.0
    assert effects == {"refunds": 1, "webhooks": 1, "slack": 1, "banned": 1}, \
        f"storm of {len(posts) - 1 + len(hooks) - 1 + 2} faults; effects {effects}; gaps {stripe_gaps} {hook_gaps}"


def test_a_timed_out_attempt_backs_off_from_when_it_failed(rig, people):
    """Injects: a webhook receiver that never answers the first two requests (webhook_timeout_seconds 0.5 s),
    with retry_base_seconds 0.4. Counts: requests at the receiver and the gap between them: each retry must
    wait its backoff after the timed-out attempt ended (≥ 0.5 s timeout + ≥ 0.2 s, then + ≥ 0.4 s)."""
    proxy = rig.proxy(rig.sink.url)
    proxy.script(Fault.hang(), Fault.hang())
    [event] = rig.ingest_legit(people.integration, 1, offset=700)
    rig.start_dispatcher("dispatcher", webhook_url=f"{proxy.url}/webhooks/shop", webhook_timeout_seconds=0.5,
                         retry_base_seconds=0.4, retry_max_seconds=0.8)
    rig.wait_settled(1, timeout=30)
    requests = proxy.seen()
    assert [r.fault for r in requests] == ["hang", "hang", "forward"], [r.fault for r in requests]
    observed = gaps(requests)
    wanted = [0.5 + 0.4 / 2, 0.5 + 0.8 / 2]
    assert all(g >= w for g, w in zip(observed, wanted, strict=True)), (
        f"2 timeouts injected; gaps between attempts {observed} s, each must be >= {wanted} s "
        "(timeout + the smallest backoff draw): the retry was scheduled from when the attempt started")
    assert rig.verified_webhooks() == {event["external_id"]: 1}


def test_dead_letter_after_max_attempts_then_admin_replay_delivers_once(rig, people):
    """Injects: a webhook receiver answering 500 to the first 3 requests of one action (outbox_max_attempts=3),
    and 400 to another action (permanent: no retry). Counts: attempts and end state of each action, requests
    at the receiver per webhook-id, verified deliveries after an admin replay; replay refusals (403, 409)."""
    proxy = rig.proxy(rig.sink.url)
    first, second = rig.ingest_legit(people.integration, 2, offset=600)
    actions = {a.payload["external_id"]: a.id for a in rig.actions()}
    retried, refused = actions[first["external_id"]], actions[second["external_id"]]
    proxy.script(*[Fault.status(500)] * 3, when=lambda r: r.headers.get("webhook-id") == retried)
    proxy.script(Fault.status(400), when=lambda r: r.headers.get("webhook-id") == refused)
    rig.start_dispatcher("dispatcher", webhook_url=f"{proxy.url}/webhooks/shop", outbox_max_attempts=3,
                         retry_base_seconds=BASE, retry_max_seconds=CAP)
    admin = httpx.Client(base_url=rig.api_url, headers={"Authorization": f"Bearer {people.admin}"}, timeout=10)
    try:
        wait_until(lambda: rig.status_counts()["dead"] == 2, timeout=30, what="both actions dead-lettered")
        dead = {a["id"]: a for a in admin.get("/v1/actions", params={"status": "dead"}).json()}
        assert set(dead) == {retried, refused}
        assert (dead[retried]["attempts"], dead[refused]["attempts"]) == (3, 1), dead
        assert "HTTP 500" in dead[retried]["last_error"] and "HTTP 400" in dead[refused]["last_error"], dead
        assert rig.sink.webhooks == [], "no delivery reached the receiver"
        assert len(proxy.seen(lambda r: r.headers.get("webhook-id") == retried)) == 3

        as_reviewer = admin.post(f"/v1/actions/{retried}/replay",
                                 headers={"Authorization": f"Bearer {people.reviewer}"})
        assert as_reviewer.status_code == 403, as_reviewer.text
        for action_id in (retried, refused):
            replayed = admin.post(f"/v1/actions/{action_id}/replay")
            assert replayed.status_code == 200 and replayed.json()["status"] == "pending", replayed.text
        rig.wait_settled(2, timeout=30)
        again = admin.post(f"/v1/actions/{retried}/replay")
        assert again.status_code == 409 and again.json()["error"]["type"] == "conflict", again.text
        counts = admin.get("/v1/actions/counts").json()
    finally:
        admin.close()
    per_id = {aid: len(proxy.seen(lambda r, aid=aid: r.headers.get("webhook-id") == aid)) for aid in actions.values()}
    assert per_id == {retried: 4, refused: 2}, f"requests per action at the receiver: {per_id}"
    assert rig.verified_webhooks() == {first["external_id"]: 1, second["external_id"]: 1}, rig.sink.webhooks
    assert counts == {"pending": 0, "in_flight": 0, "done": 2, "dead": 0, "total": 2, "refused": 0,
                      "cancelled": 0, "done_estimated": False}, counts
