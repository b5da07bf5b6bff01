"""Hostile and disorderly inbound Stripe webhooks, over HTTP against the real app (uvicorn on loopback).

Each is a 4xx with a JSON error body, or an idempotent 200; nothing is stored twice, nothing partial.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from reviewqueue.db.tables import InboundEvent, Label
from reviewqueue.services import training
from tests.factories import transaction
from tests.stripe_signing import WEBHOOK_SECRET, dispute_event, sign

PATH = "/v1/webhooks/stripe"


@pytest.fixture
def api(ctx, live_api):
    ctx.settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    with httpx.Client(base_url=live_api, timeout=10) as client:
        yield client


def post(api, body: bytes, signature: str | None, **headers: str):
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return api.post(PATH, content=body, headers={"Content-Type": "application/json", **headers})


def stored(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        count = lambda t: int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())  # noqa: E731
        return {"events": count(InboundEvent), "labels": count(Label)}


def predict(api, people, i: int, charge: str) -> None:
    event = transaction(i, amount=11.0 + i / 100)  # a distinct amount per event: found again below
    event["context"]["charge_id"] = charge
    r = api.post("/v1/models/fraud/predictions", json={"events": [event]},
                 headers={"Authorization": f"Bearer {people.integration}"})
    assert r.status_code == 200, r.text


def skewed(body: bytes, seconds: int) -> str:
    """Sign ``body`` ``seconds`` away from now, rounded away from now: header timestamps are whole seconds, so
    a plain int(time.time()) + 301 is only 300.x s ahead once the clock ticks over before the check."""
    now = time.time()
    return sign(body, timestamp=math.ceil(now) + seconds if seconds > 0 else math.floor(now) + seconds)


def hostile_requests() -> list[tuple[str, bytes, object, bool]]:
    """(name, body, a function giving the Stripe-Signature at send time or None for no header, whether the
    signature is what is wrong: those must be 400; a bad body may be any 4xx)."""
    body = dispute_event("evt_h", "ch_h")
    tampered = body.replace(b"ch_h", b"ch_x")
    return [
        ("tampered body", tampered, lambda: sign(body), True),
        ("wrong secret", body, lambda: sign(body, secret="whsec_other"), True),
        ("301 s stale", body, lambda: skewed(body, -301), True),
        ("301 s in the future", body, lambda: skewed(body, 301), True),
        ("a day in the future", body, lambda: skewed(body, 86_400), True),
        ("missing header", body, None, True),
        ("empty header", body, lambda: "", True),
        ("timestamp only", body, lambda: f"t={int(time.time())}", True),
        ("signature only", body, lambda: "v1=" + sign(body).split("v1=")[1], True),
        ("junk header", body, lambda: "\x7fjunk,,==", True),
        ("non-UTF-8 body", b"\xff\xfe\x00 not utf-8", lambda: sign(b"\xff\xfe\x00 not utf-8"), False),
        ("non-JSON body", b"not json at all", lambda: sign(b"not json at all"), False),
        ("JSON but not an event", b'["a list"]', lambda: sign(b'["a list"]'), False),
        ("event id not a string", b'{"id": 7, "type": "x"}', lambda: sign(b'{"id": 7, "type": "x"}'), False),
        ("empty body", b"", lambda: sign(b""), False),
    ]


def test_hostile_inbound_webhooks_are_refused_with_a_4xx_and_store_nothing(api, ctx):
    """Injects: 15 malformed, forged, stale, future-dated or unsigned requests. Counts: status per request
    (400 for every signature fault, a 4xx for every bad body, each with a JSON error body, none 5xx), rows
    in inbound_events and labels (0)."""
    answers = {}
    for name, body, signature, signature_fault in hostile_requests():
        r = post(api, body, signature() if callable(signature) else None)
        answers[name] = r.status_code
        wanted = (400,) if signature_fault else tuple(range(400, 500))
        assert r.status_code in wanted, f"{name}: HTTP {r.status_code} {r.text}"
        error = r.json()["error"]
        assert error["message"] and error["type"], f"{name}: {r.text}"
    assert stored(ctx) == {"events": 0, "labels": 0}, f"answers {answers}; stored {stored(ctx)}"


def test_skew_within_tolerance_is_accepted_and_a_replayed_request_is_a_no_op(api, ctx, people):
    """Injects: events signed 290 s in the past and in the future (inside the 300 s window), the past one
    replayed 3 times as the very same signed request. Counts: statuses, duplicate flags, stored events and
    labels."""
    predict(api, people, 1, "ch_skew_past")
    predict(api, people, 2, "ch_skew_future")
    past, future = dispute_event("evt_past", "ch_skew_past"), dispute_event("evt_future", "ch_skew_future")
    captured = skewed(past, -290)
    replays = [post(api, past, captured) for _ in range(4)]
    assert [r.status_code for r in replays] == [200] * 4, [r.text for r in replays]
    assert [r.json()["duplicate"] for r in replays] == [False, True, True, True]
    r = post(api, future, skewed(future, 290))
    assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
    assert stored(ctx) == {"events": 2, "labels": 2}, stored(ctx)


def test_duplicate_event_ids_sent_concurrently_and_re_signed_store_one_event(api, ctx, people):
    """Injects: one event id sent 12 times at once (12 threads), then re-sent with another body and a fresh
    signature. Counts: 200s, duplicate=false answers (1), stored events (1) and labels (1)."""
    predict(api, people, 3, "ch_dup")
    body = dispute_event("evt_dup", "ch_dup")
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: post(api, body, sign(body)), range(12)))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {200: 12}, f"{statuses}: {[r.text for r in answers if r.status_code != 200][:3]}"
    firsts = [r for r in answers if r.json()["duplicate"] is False]
    assert len(firsts) == 1, f"{len(firsts)} of 12 concurrent copies were stored as new"
    other = json.loads(body)
    other["type"] = "charge.dispute.closed"
    other_body = json.dumps(other).encode()
    r = post(api, other_body, sign(other_body))
    assert r.status_code == 200 and r.json()["duplicate"] is True, r.text
    assert stored(ctx) == {"events": 1, "labels": 1}, f"12 concurrent + 1 re-signed copies: stored {stored(ctx)}"


def test_out_of_order_dispute_events_are_each_stored_once(api, ctx, people):
    """Injects: charge.dispute.closed (won) delivered before the charge.dispute.created it follows, then both
    again. Counts: statuses, stored events (2), chargeback labels (one per event: 2)."""
    predict(api, people, 4, "ch_ooo")
    t = int(time.time())
    created = dispute_event("evt_created", "ch_ooo")
    closed = dispute_event("evt_closed", "ch_ooo", kind="charge.dispute.closed", status="won")
    created = json.dumps({**json.loads(created), "created": t - 3600}).encode()
    closed = json.dumps({**json.loads(closed), "created": t}).encode()
    answers = [post(api, b, sign(b)) for b in (closed, created, closed, created)]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert [r.json()["duplicate"] for r in answers] == [False, False, True, True]
    assert stored(ctx) == {"events": 2, "labels": 2}, stored(ctx)


def test_out_of_order_dispute_events_leave_the_label_of_the_latest_event(api, ctx, people):
    """Injects: the dispute's outcome (closed, won: the charge was legit) delivered an hour before the
    dispute's creation event, as Stripe may. Counts: the training label the prediction ends up with (must
    be the latest event's: legit), over one labelled prediction."""
    predict(api, people, 5, "ch_order")
    t = int(time.time())
    created = json.dumps({**json.loads(dispute_event("evt_c2", "ch_order")), "created": t - 3600}).encode()
    closed = json.dumps({**json.loads(dispute_event("evt_w2", "ch_order", kind="charge.dispute.closed",
                                                    status="won")), "created": t}).encode()
    for body in (closed, created):  # arrival order is the reverse of Stripe's order
        assert post(api, body, sign(body)).status_code == 200
    data = training.collect_labels(ctx, ctx.registry.model("fraud"))
    labelled = pd.concat([data.train, data.holdout])
    assert len(labelled) == 1
    label = "fraud" if int(labelled["label"].iloc[0]) == 1 else "legit"
    assert label == "legit", ("dispute created (t-3600) then closed as won (t), delivered in reverse order: "
                              f"the prediction trains as {label!r}; the latest event says 'legit'")


def test_unconfigured_webhook_secret_refuses_and_stores_nothing(ctx, live_api):
    """Injects: a correctly signed event while no stripe_webhook_secret is configured. Counts: status (a 4xx
    or 503 with a JSON error body, never a 2xx or 500), stored events (0)."""
    body = dispute_event("evt_nosecret", "ch_1")
    r = httpx.post(f"{live_api}{PATH}", content=body, headers={"Stripe-Signature": sign(body)}, timeout=10)
    assert (400 <= r.status_code < 500 or r.status_code == 503) and r.json()["error"]["message"], r.text
    assert stored(ctx)["events"] == 0
