"""Input that cannot be stored and re-encoded as UTF-8 (a lone surrogate, NUL) and numbers out of range (an
integer beyond int64, NaN) get a 422 naming the field at every entry point, over real HTTP, and nothing of the
request is stored (issue 10 point 1). JSON is sent as bytes: ``\\ud800`` travels as the escape a client writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks import Webhook

from reviewqueue.db.tables import Decision, InboundEvent, Label, OutboxAction, Prediction, ReviewItem
from tests.factories import uncertain
from tests.stripe_signing import WEBHOOK_SECRET, dispute_event, sign

INBOUND_SECRET = "whsec_" + "c3RvcmFibGUtaW5wdXQtdGVzdC1zZWNyZXQtMTIzNA=="
SURROGATE = "u\ud800"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def secrets(ctx) -> None:
    ctx.settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    ctx.settings.inbound_webhook_secret = SecretStr(INBOUND_SECRET)


def encoded(body: Any) -> bytes:
    """The body as a client's JSON library writes it (ASCII with \\u escapes; NaN as the NaN literal)."""
    return json.dumps(body).encode()


def totals(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {t.__tablename__: int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())
                for t in (Prediction, ReviewItem, Decision, Label, OutboxAction, InboundEvent)}


def refused(response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    return error


def with_context(i: int, **context: Any) -> dict[str, Any]:
    event = uncertain(i)
    event["context"] = {**event["context"], **context}
    return event


BAD_EVENTS = {
    "lone surrogate in context": (with_context(1, user_id=SURROGATE), "events[0].context.user_id"),
    "int beyond int64 in context": (with_context(1, user_id=2**63), "events[0].context.user_id"),
    "10**400 in an int feature": (uncertain(1, hour=10**400), "events[0].features.hour"),
    "10**400 in a float feature": (uncertain(1, amount=10**400), "events[0].features.amount"),
    "lone surrogate as a context name": ({**uncertain(1), "context": {SURROGATE: "x"}}, "events[0].context.u\\ud800"),
    "NUL in a context name": ({**uncertain(1), "context": {"u\x00": "x"}}, "events[0].context.u\\x00"),
}


@pytest.mark.parametrize(("event", "field"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_events_api_refuses_what_cannot_be_stored_naming_the_field(as_, ctx, event, field):
    r = as_("integration").post("/v1/models/fraud/predictions", content=encoded({"events": [event]}), headers=JSON)
    refused(r, field)
    assert sum(totals(ctx).values()) == 0


def test_a_batch_with_one_bad_event_stores_nothing(as_, ctx):
    batch = [uncertain(0), with_context(1, user_id=SURROGATE), uncertain(2)]
    r = as_("integration").post("/v1/models/fraud/predictions", content=encoded({"events": batch}), headers=JSON)
    error = refused(r, "events[1].context.user_id")
    assert "surrogate" in error["message"]
    assert sum(totals(ctx).values()) == 0
    ok = as_("integration").post("/v1/models/fraud/predictions", content=encoded({"events": batch[::2]}),
                                 headers=JSON)
    assert ok.status_code == 200 and totals(ctx)["predictions"] == 2, ok.text


def signed(webhook_id: str, body: bytes) -> dict[str, str]:
    at = datetime.now(UTC)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(INBOUND_SECRET).sign(webhook_id, at, body.decode()), **JSON}


@pytest.mark.parametrize(("event", "field"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_signed_events_webhook_refuses_it_and_records_no_event(as_, ctx, secrets, event, field):
    body = encoded({"events": [uncertain(0), event]})
    r = as_("integration").post("/v1/webhooks/events/fraud", content=body, headers=signed("msg-bad", body))
    refused(r, field.replace("events[0]", "events[1]"))
    assert sum(totals(ctx).values()) == 0


def test_stripe_webhook_refuses_a_lone_surrogate_or_nan_in_the_event(as_, ctx, secrets):
    for n, (extra, field) in enumerate([({"reason": SURROGATE}, "body.data.object.reason"),
                                        ({"amount": float("nan")}, "body.data.object.amount"),
                                        ({"amount": 10**400}, "body.data.object.amount")]):
        body = dispute_event(f"evt_bad{n}", "ch_x", **extra)
        r = as_("integration").post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)})
        refused(r, field)
    assert sum(totals(ctx).values()) == 0


def test_outcomes_api_and_webhook_refuse_it_naming_the_field(as_, ctx, secrets):
    for field, value, words in [("event_id", SURROGATE, "lone surrogate"), ("external_id", "tx\x00", "NUL")]:
        outcome = {"event_id": "o-1", "external_id": "tx-u1", "label": "fraud", field: value}
        body = encoded({"outcomes": [outcome]})
        for r in (as_("integration").post("/v1/models/fraud/outcomes", content=body, headers=JSON),
                  as_("integration").post("/v1/webhooks/outcomes/fraud", content=body, headers=signed("m", body))):
            assert words in refused(r, f"outcomes[0].{field}")["message"]
    assert sum(totals(ctx).values()) == 0


def test_score_refuses_an_int_beyond_range_instead_of_a_500(as_):
    r = as_("data_scientist").post("/v1/models/fraud/versions/1/score",
                                   content=encoded({"features": [uncertain(1, hour=10**400)["features"]]}),
                                   headers=JSON)
    refused(r, "features[0].hour")


def test_free_text_a_person_sends_is_refused_naming_the_field(as_, ctx):
    as_("integration").post("/v1/models/fraud/predictions", content=encoded({"events": [uncertain(1)]}),
                            headers=JSON)
    item = as_("reviewer").post("/v1/queues/fraud/claim").json()
    decision = {"verdict": "fraud", "lease_token": item["lease_token"], "note": "see " + SURROGATE}
    # each names the field and says what is wrong with it
    for r, field in [
        (as_("reviewer").post(f"/v1/items/{item['id']}/decision", content=encoded(decision), headers=JSON), "note"),
        (as_("admin").post("/v1/models/fraud/shadow/stop", content=encoded({"reason": "why\ud800"}), headers=JSON),
         "reason"),
        (as_("admin").post("/v1/sessions", content=encoded({"name": "ana\udcff", "password": "x"}), headers=JSON),
         "name"),
    ]:
        assert "lone surrogate" in refused(r, field)["message"]
    assert totals(ctx)["decisions"] == 0
    # the reviewer still holds the item and decides it with a clean note
    decision["note"] = "ok"
    assert as_("reviewer").post(f"/v1/items/{item['id']}/decision", json=decision).status_code == 200


# Any text, surrogates and NUL included: either stored and shown back exactly, or refused naming the field.
ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(["a", "é", "\x00", "\ud800", "\udfff", "\U0001f600", "\ud83d", "\ude00"]),
             max_size=6).map("".join),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT)
@example(text="\ud83d\ude00")  # a surrogate pair: one valid character once JSON-decoded, stored
@example(text="\ude00\ud83d")  # the halves in the wrong order: two lone surrogates, refused
def test_any_text_is_stored_and_shown_back_exactly_or_refused_naming_the_field(as_, ctx, text):
    external_id = f"h-{totals(ctx)['predictions']}-{len(text)}"
    event = {**with_context(1, user_id=text), "external_id": external_id}
    r = as_("integration").post("/v1/models/fraud/predictions", content=encoded({"events": [event]}), headers=JSON)
    # What the server receives: JSON's \u escapes join a high + low surrogate written next to each other into
    # one valid character (\ud83d\ude00 is 😀); only lone halves (and NUL) reach it as unstorable.
    received = json.loads(json.dumps(text))
    storable = "\x00" not in received and not any(0xD800 <= ord(c) <= 0xDFFF for c in received)
    if not storable:
        refused(r, "events[0].context.user_id")
        return
    assert r.status_code == 200, r.text
    item_id = r.json()["predictions"][0]["item_id"]
    shown = as_("admin").get(f"/v1/items/{item_id}")
    assert shown.status_code == 200 and shown.json()["context"]["user_id"] == received, shown.text
