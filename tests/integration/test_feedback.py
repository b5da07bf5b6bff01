"""Delayed feedback: a verified Stripe dispute is stored once and becomes a chargeback label."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from reviewqueue.db.tables import InboundEvent, Label
from reviewqueue.domain.states import Role
from reviewqueue.errors import NotEnabled, SignatureInvalid, ValidationFailed
from reviewqueue.services import feedback, ingest
from reviewqueue.services.auth import Actor
from tests.factories import transaction, uncertain
from tests.stripe_signing import WEBHOOK_SECRET, dispute_event, sign

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


@pytest.fixture
def stripe_ctx(ctx):
    ctx.settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    return ctx


def receive(ctx, body: bytes, header: str | None):
    return feedback.record_stripe_event(ctx, feedback.verify_stripe(ctx, body, header))


def stored(ctx, table):
    with ctx.engine.connect() as conn:
        return conn.execute(select(table)).all()


def test_dispute_labels_an_unreviewed_prediction_once(stripe_ctx):
    ctx = stripe_ctx
    [auto] = ingest.ingest(ctx, SYSTEM, "fraud", [transaction(5)])  # auto-passed: nobody reviewed it
    body = dispute_event("evt_1", "ch_5")
    first = receive(ctx, body, sign(body))
    assert first.duplicate is False and first.outcome == "labelled 1 prediction(s)"
    again = receive(ctx, body, sign(body))
    assert again.duplicate is True
    [label] = stored(ctx, Label)
    assert (label.prediction_id, label.value, label.source, label.actor) == \
        (auto.prediction_id, "fraud", "chargeback", "stripe:evt_1")
    assert label.inbound_event_id is not None and label.created_at is not None
    assert len(stored(ctx, InboundEvent)) == 1


def test_won_dispute_labels_legit_and_unknown_charges_are_kept_but_unmatched(stripe_ctx):
    ctx = stripe_ctx
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    won = dispute_event("evt_won", "ch_u1", kind="charge.dispute.closed", status="won")
    receive(ctx, won, sign(won))
    other = dispute_event("evt_other", "ch_nobody")
    assert receive(ctx, other, sign(other)).outcome == "no prediction for charge ch_nobody"
    assert [(lb.value, lb.source) for lb in stored(ctx, Label)] == [("legit", "chargeback")]
    assert len(stored(ctx, InboundEvent)) == 2


@pytest.mark.parametrize(
    ("body", "header", "problem"),
    [
        (dispute_event("e", "c"), lambda b: None, "No Stripe-Signature"),
        (dispute_event("e", "c"), lambda b: "garbage", "Unable to extract"),
        (dispute_event("e", "c"), lambda b: sign(b, secret="whsec_wrong"), "No signatures found"),
        (dispute_event("e", "c"), lambda b: sign(b, timestamp=int(time.time()) - 301), "tolerance"),
        (dispute_event("e", "c"), lambda b: sign(b, timestamp=int(time.time()) + 301), "future"),
        (b"\xff\xfe not utf-8", sign, "not UTF-8"),
    ],
    ids=["missing", "junk", "wrong-secret", "stale", "future", "non-utf8"],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(stripe_ctx, body, header, problem):
    with pytest.raises(SignatureInvalid, match=problem):
        receive(stripe_ctx, body, header(body))  # signed at run time: the ±300 s window is exact
    assert stored(stripe_ctx, InboundEvent) == [] and stored(stripe_ctx, Label) == []


def test_tampered_body_is_refused(stripe_ctx):
    body = dispute_event("evt_t", "ch_1")
    header = sign(body)
    with pytest.raises(SignatureInvalid):
        receive(stripe_ctx, body.replace(b"ch_1", b"ch_2"), header)


def test_signed_but_not_json_or_not_an_event(stripe_ctx):
    for body in (b"not json at all", b'["a list"]', b'{"id": 1, "type": "x"}'):
        with pytest.raises(ValidationFailed):
            receive(stripe_ctx, body, sign(body))
    assert stored(stripe_ctx, InboundEvent) == []


def test_unconfigured_secret_refuses_everything(ctx):
    body = dispute_event("e", "c")
    with pytest.raises(NotEnabled, match="REVIEWQUEUE_STRIPE_WEBHOOK_SECRET"):
        receive(ctx, body, sign(body))
