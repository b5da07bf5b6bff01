"""Every public entry point answers bad input with a clear 4xx naming the field, and stores nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from reviewqueue.api import create_app
from reviewqueue.db.tables import Decision, Label, OutboxAction, Prediction, ReviewItem
from tests.factories import uncertain


@pytest.fixture
def api(ctx):
    return TestClient(create_app(ctx))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def totals(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {t.__name__: int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())
                for t in (Prediction, ReviewItem, Decision, Label, OutboxAction)}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def event_with(**changes):
    event = uncertain(1)
    event["features"] = {**event["features"], **changes}
    return event


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        (b'{"events": [', 400, "body", "malformed JSON"),
        (b'{"events": []}', 422, "events", "at least 1"),
        (b'{"evnts": []}', 422, "events", "Field required"),
        ({"events": [event_with(amount="12")]}, 422, "events[0].features.amount", "expected a number"),
        ({"events": [event_with(amount=None)]}, 422, "events[0].features.amount", "expected a number"),
        ({"events": [event_with(hour=3.5)]}, 422, "events[0].features.hour", "integer"),
        ({"events": [event_with(merchant_category="casino")]}, 422, "events[0].features.merchant_category",
         "one of"),
        ({"events": [event_with(shoe_size=9)]}, 422, "events[0].features.shoe_size", "unknown feature"),
        ({"events": [{"external_id": "x", "features": {"amount": 1.0}}]}, 422,
         "events[0].features.merchant_category", "missing"),
        ({"events": [{**uncertain(1), "extra": 1}]}, 422, "events[0].extra", "Extra inputs"),
        ({"events": [{**uncertain(1), "external_id": 7}]}, 422, "events[0].external_id", "string"),
    ],
)
def test_ingest_bad_input(api, ctx, people, body, status, field, words):
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = api.post("/v1/models/fraud/predictions", headers={**bearer(people.integration),
                                                                  "Content-Type": "application/json"}, **kwargs)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["field"] == field and words in error["message"], error
    assert sum(totals(ctx).values()) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(api, ctx, people, literal):
    body = ('{"events": [{"external_id": "n1", "features": {"amount": ' + literal + ', "merchant_category": '
            '"grocery", "country_mismatch": false, "account_age_days": 5, "card_present": false, "hour": 3, '
            '"velocity_1h": 2}}]}')
    response = api.post("/v1/models/fraud/predictions", content=body,
                        headers={**bearer(people.integration), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == "events[0].features.amount"
    assert totals(ctx)["Prediction"] == 0


def test_unknown_model_and_batch_over_limit(api, ctx, people):
    r = api.post("/v1/models/nope/predictions", json={"events": [uncertain(1)]}, headers=bearer(people.integration))
    assert r.status_code == 404 and error_of(r)["field"] == "model"
    ctx.settings.batch_limit = 2
    r = api.post("/v1/models/fraud/predictions", json={"events": [uncertain(i) for i in range(3)]},
                 headers=bearer(people.integration))
    assert r.status_code == 413 and "over the batch limit of 2" in error_of(r)["message"]
    assert totals(ctx)["Prediction"] == 0


@pytest.mark.parametrize(
    ("who", "method", "path", "status"),
    [
        (None, "post", "/v1/models/fraud/predictions", 401),
        ("garbage", "get", "/v1/queues", 401),
        ("reviewer", "post", "/v1/models/fraud/predictions", 403),
        ("integration", "post", "/v1/queues/fraud/claim", 403),
        ("outsider", "post", "/v1/queues/fraud/claim", 403),
        ("integration", "post", "/v1/items/1/decision", 403),
        ("reviewer", "post", "/v1/models/fraud/retrain", 403),
        ("integration", "get", "/v1/actions", 403),
    ],
)
def test_bad_or_underprivileged_tokens(api, ctx, people, who, method, path, status):
    token = getattr(people, who) if who in ("reviewer", "integration", "outsider") else who
    headers = bearer(token) if token else {}
    body = {"events": [uncertain(1)]} if "predictions" in path else {"verdict": "fraud", "lease_token": "x"}
    if who == "integration" and path.endswith("/decision"):
        api.post("/v1/models/fraud/predictions", json={"events": [uncertain(1)]}, headers=bearer(people.admin))
    before = totals(ctx)
    response = getattr(api, method)(path, headers=headers, **({"json": body} if method == "post" else {}))
    assert response.status_code == status, response.text
    assert error_of(response)["message"]
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert totals(ctx) == before


def test_decision_errors_over_http(api, ctx, people):
    api.post("/v1/models/fraud/predictions", json={"events": [uncertain(1)]}, headers=bearer(people.integration))
    item = api.post("/v1/queues/fraud/claim", headers=bearer(people.reviewer)).json()
    url = f"/v1/items/{item['id']}/decision"
    r = api.post(url, json={"verdict": "fraud"}, headers=bearer(people.reviewer))
    assert r.status_code == 422 and error_of(r)["field"] == "lease_token"
    r = api.post(url, json={"verdict": "fraud", "lease_token": "stolen"}, headers=bearer(people.reviewer2))
    assert r.status_code == 409 and error_of(r)["type"] == "lease_lost"
    r = api.post(url, json={"verdict": "chargeback", "lease_token": item["lease_token"]},
                 headers=bearer(people.reviewer))
    assert r.status_code == 422 and error_of(r)["field"] == "verdict"
    assert totals(ctx)["Decision"] == 0
    ok = api.post(url, json={"verdict": "fraud", "lease_token": item["lease_token"]}, headers=bearer(people.reviewer))
    assert ok.status_code == 200 and len(ok.json()["action_ids"]) == 4
    again = api.post(url, json={"verdict": "fraud", "lease_token": item["lease_token"]},
                     headers=bearer(people.reviewer))
    assert again.status_code == 409 and error_of(again)["type"] == "already_decided"
    assert totals(ctx)["Decision"] == 1 and totals(ctx)["OutboxAction"] == 4
    r = api.get("/v1/items/999999", headers=bearer(people.reviewer))
    assert r.status_code == 404 and error_of(r)["field"] == "item_id"


def test_claim_on_empty_queue_is_204_and_sign_in_errors(api, people):
    assert api.post("/v1/queues/fraud/claim", headers=bearer(people.reviewer)).status_code == 204
    r = api.post("/v1/sessions", json={"name": "reviewer", "password": "wrong"})
    assert r.status_code == 401 and "wrong password" in error_of(r)["message"]
    r = api.post("/v1/sessions", json={"name": "reviewer", "password": "reviewer-pw"})
    assert r.status_code == 200
    me = api.get("/v1/me", headers=bearer(r.json()["token"])).json()
    assert me == {"id": people.ids["reviewer"], "name": "reviewer", "role": "reviewer", "queues": ["fraud"],
                  "permissions": ["actions.read", "decisions.undo", "items.read", "items.review", "queues.read"],
                  "pages": ["queues", "triage", "actions"], "review_queues": ["fraud"]}


@pytest.mark.parametrize("field", ["note", "lease_token"])
def test_nul_characters_are_refused_at_the_edge(api, ctx, people, field):
    """PostgreSQL cannot store NUL in text: refuse it as the client's mistake (422 naming the field), not a 500."""
    api.post("/v1/models/fraud/predictions", json={"events": [uncertain(1)]}, headers=bearer(people.integration))
    item = api.post("/v1/queues/fraud/claim", headers=bearer(people.reviewer)).json()
    body = {"verdict": "fraud", "lease_token": item["lease_token"], "note": "ok"}
    body[field] = "bad\x00value"
    r = api.post(f"/v1/items/{item['id']}/decision", json=body, headers=bearer(people.reviewer))
    assert r.status_code == 422 and error_of(r)["field"] == field
    assert totals(ctx)["Decision"] == 0


def test_invalid_utf8_in_a_text_is_a_clear_400_and_stores_nothing(api, ctx, people):
    """A patient message arriving as bytes that are not UTF-8 is refused whole (the JSON cannot be decoded)."""
    body = b'{"events": [{"external_id": "m1", "features": {"text": "I feel \xff\xfe awful"}}]}'
    r = api.post("/v1/models/fraud/predictions", content=body,
                 headers={**bearer(people.integration), "Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r)["field"] == "body", r.text
    assert totals(ctx)["Prediction"] == 0
