"""Inbound webhook headers read strictly, over real HTTP: the Stripe-Signature timestamp is ASCII digits only,
and a webhook-id longer than the stored event id is refused before anything is ingested or stored."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks import Webhook

from reviewqueue.db.tables import InboundEvent, Label, Prediction
from tests.factories import transaction
from tests.stripe_signing import WEBHOOK_SECRET, dispute_event, sign

INBOUND_SECRET = "whsec_" + "aW5ib3VuZC1oZWFkZXJzLXRlc3Qtc2VjcmV0LTEyMzQ="


@pytest.fixture
def api(ctx, live_api):
    ctx.settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    ctx.settings.inbound_webhook_secret = SecretStr(INBOUND_SECRET)
    with httpx.Client(base_url=live_api, timeout=10) as client:
        yield client


def counts(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {t.__tablename__: int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())
                for t in (InboundEvent, Label, Prediction)}


def respelled(body: bytes, timestamp: int, spell) -> str:
    """A genuine signature over ``timestamp``, with its t= written another way that int() reads the same."""
    header = sign(body, timestamp=timestamp)
    return header.replace(f"t={timestamp}", spell(str(timestamp)), 1)


# Each form is signed a day in the future: int() reads them all as that timestamp, so the signature verifies,
# and only the strict reading stops the pre-signed, replayable event. (Non-ASCII digits, which int() also
# reads, cannot travel in an HTTP header as such; tests/unit/test_stripe_timestamp.py covers them.)
BYPASS_FORMS = {
    "plus sign": lambda t: f"t=+{t}",
    "leading space": lambda t: f"t= {t}",
    "trailing space": lambda t: f"t={t} ",
    "underscore": lambda t: f"t={t[0]}_{t[1:]}",
    "a second, plain t after": lambda t: f"t=+{t},t={int(time.time())}",
}


@pytest.mark.parametrize("spell", BYPASS_FORMS.values(), ids=BYPASS_FORMS.keys())
def test_stripe_timestamp_spelled_other_than_ascii_digits_is_a_400_naming_the_header(api, ctx, spell):
    body = dispute_event("evt_spelled", "ch_spelled")
    r = api.post("/v1/webhooks/stripe", content=body,
                 headers={"Stripe-Signature": respelled(body, int(time.time()) + 86_400, spell),
                          "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "Stripe-Signature", r.text
    assert counts(ctx) == {"inbound_events": 0, "labels": 0, "predictions": 0}
    plain = api.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)})
    assert plain.status_code == 200 and plain.json()["duplicate"] is False, plain.text
    assert counts(ctx)["inbound_events"] == 1


def test_stripe_event_id_over_200_characters_is_refused_and_nothing_is_stored(api, ctx):
    body = dispute_event("evt_" + "x" * 197, "ch_long")
    r = api.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body.id", r.text
    assert counts(ctx) == {"inbound_events": 0, "labels": 0, "predictions": 0}


def signed(webhook_id: str, body: bytes) -> dict[str, str]:
    at = datetime.now(UTC)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(INBOUND_SECRET).sign(webhook_id, at, body.decode()),
            "content-type": "application/json"}


ROUTES = {
    "events": ("/v1/webhooks/events/fraud", json.dumps({"events": [transaction(7)]}).encode()),
    "outcomes": ("/v1/webhooks/outcomes/fraud", json.dumps({"outcomes": [
        {"event_id": "o-1", "external_id": "tx-7", "label": "fraud", "source": "followup"}]}).encode()),
}


@pytest.mark.parametrize(("path", "body"), ROUTES.values(), ids=ROUTES.keys())
def test_webhook_id_over_200_characters_is_refused_before_anything_is_stored(api, ctx, path, body):
    too_long = "m" * 201
    r = api.post(path, content=body, headers=signed(too_long, body))
    assert 400 <= r.status_code < 500 and r.json()["error"]["field"] == "webhook-id", r.text
    assert "webhook-id" in r.json()["error"]["message"]
    assert counts(ctx) == {"inbound_events": 0, "labels": 0, "predictions": 0}
    again = api.post(path, content=body, headers=signed(too_long, body))  # a retry is refused the same way
    assert again.status_code == r.status_code
    assert counts(ctx) == {"inbound_events": 0, "labels": 0, "predictions": 0}
    longest = [api.post(path, content=body, headers=signed("m" * 200, body)) for _ in range(2)]
    assert [a.status_code for a in longest] == [200, 200], [a.text for a in longest]
    assert counts(ctx)["inbound_events"] == 1, "200 characters fit: stored once"
