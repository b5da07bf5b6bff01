"""Outcomes from any system (issue 9 point 7): by external_id or correlation key, as an API call or a signed
webhook; stored once per source event; labels that outrank reviewer verdicts; bad input refused whole."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from standardwebhooks import Webhook

from reviewqueue.db.tables import InboundEvent, Label
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.domain.states import Role
from reviewqueue.services import decisions, ingest, queue
from reviewqueue.services.auth import Actor, authenticate
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
SECRET = "whsec_" + "b3V0Y29tZXMtd2ViaG9vay1zZWNyZXQtZm9yLXRlc3Rz"


@pytest.fixture
def api(live_api, people):
    with httpx.Client(base_url=live_api, headers={"Authorization": f"Bearer {people.integration}"},
                      timeout=10) as client:
        yield client


def table(ctx, model):
    with ctx.engine.connect() as conn:
        return conn.execute(select(model.__table__).order_by(model.id)).all()


def test_outcomes_label_by_external_id_or_correlation_key_once_and_outrank_the_reviewer(ctx, people, api):
    [reviewed, unseen] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), transaction(2)])
    reviewer = authenticate(ctx, people.reviewer)
    item = queue.claim_next(ctx, reviewer, "fraud")
    decisions.decide(ctx, reviewer, item.id, "legit", item.lease_token)  # the reviewer cleared it …
    body = {"outcomes": [
        {"event_id": "cb-1", "external_id": "tx-u1", "label": "fraud", "source": "chargeback_feed",
         "occurred_at": "2026-11-30T12:00:00Z"},  # … and the card holder disputed it later
        {"event_id": "fu-7", "correlation_key": "ch_2", "label": "legit", "source": "followup",
         "observed_probability": 0.5},
        {"event_id": "fu-8", "external_id": "tx-nobody", "label": "fraud", "source": "followup"},
    ]}
    r = api.post("/v1/models/fraud/outcomes", json=body)
    assert r.status_code == 200, r.text
    answered = [(o["event_id"], o["duplicate"], o["matched"], o["prediction_id"]) for o in r.json()["outcomes"]]
    assert answered == [("cb-1", False, True, reviewed.prediction_id), ("fu-7", False, True, unseen.prediction_id),
                        ("fu-8", False, False, None)]
    outcome_labels = [lb for lb in table(ctx, Label) if lb.source == "outcome"]
    assert [(lb.prediction_id, lb.value, lb.actor, lb.selection_probability) for lb in outcome_labels] == [
        (reviewed.prediction_id, "fraud", "chargeback_feed:cb-1", 1.0), (unseen.prediction_id, "legit",
                                                                         "followup:fu-7", 0.5)]
    # the outcome, not the reviewer's verdict, is what training learns from
    best = best_label_per_prediction(table(ctx, Label))
    assert best[reviewed.prediction_id].value == "fraud"
    assert {(e.provider, e.event_id) for e in table(ctx, InboundEvent)} == {
        ("outcome:fraud:chargeback_feed", "cb-1"), ("outcome:fraud:followup", "fu-7"),
        ("outcome:fraud:followup", "fu-8")}
    # re-sent: nothing changes
    again = api.post("/v1/models/fraud/outcomes", json=body).json()["outcomes"]
    assert [o["duplicate"] for o in again] == [True, True, True]
    assert len(table(ctx, Label)) == 3 and len(table(ctx, InboundEvent)) == 3


@pytest.mark.parametrize(("outcome", "field"), [
    ({"event_id": "x", "external_id": "tx-u1", "label": "maybe"}, "outcomes[1].label"),
    ({"event_id": "x", "label": "fraud"}, "outcomes[1]"),
    ({"event_id": "x", "external_id": "tx-u1", "correlation_key": "ch_1", "label": "fraud"}, "outcomes[1]"),
    ({"event_id": "x", "external_id": "tx-u1", "label": "fraud", "observed_probability": 0},
     "outcomes[1].observed_probability"),
    ({"event_id": "x", "external_id": "tx-u1", "label": "fraud", "source": "Bad Source!"}, "outcomes[1].source"),
    ({"event_id": "ok", "external_id": "tx-u1", "label": "fraud"}, "outcomes[1].event_id"),  # twice in one batch
])
def test_bad_outcomes_are_refused_whole_naming_the_field(ctx, api, outcome, field):
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    good = {"event_id": "ok", "external_id": "tx-u1", "label": "fraud"}
    r = api.post("/v1/models/fraud/outcomes", json={"outcomes": [good, outcome]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.text
    assert table(ctx, Label) == [] and table(ctx, InboundEvent) == []


def test_who_may_report_outcomes(ctx, people, live_api):
    body = {"outcomes": [{"event_id": "x", "external_id": "tx-1", "label": "fraud"}]}
    status = {}
    for who in ("integration", "data_scientist", "admin", "reviewer"):
        r = httpx.post(f"{live_api}/v1/models/fraud/outcomes", json={"outcomes": [
            {**body["outcomes"][0], "event_id": who}]}, headers={"Authorization": f"Bearer {getattr(people, who)}"})
        status[who] = r.status_code
    assert status == {"integration": 200, "data_scientist": 200, "admin": 200, "reviewer": 403}


def test_outcomes_as_a_signed_webhook(ctx, live_api):
    ctx.settings.inbound_webhook_secret = SecretStr(SECRET)
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    body = json.dumps({"outcomes": [{"event_id": "w-1", "external_id": "tx-u1", "label": "fraud",
                                     "source": "followup"}]}).encode()
    stamp = datetime.fromtimestamp(time.time(), UTC)
    headers = {"webhook-id": "msg-1", "webhook-timestamp": str(int(stamp.timestamp())),
               "webhook-signature": Webhook(SECRET).sign("msg-1", stamp, body.decode()),
               "content-type": "application/json"}
    r = httpx.post(f"{live_api}/v1/webhooks/outcomes/fraud", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"][0]["matched"] is True
    forged = httpx.post(f"{live_api}/v1/webhooks/outcomes/fraud", content=body,
                        headers={**headers, "webhook-signature": "v1,AAAA"})
    assert forged.status_code == 400 and forged.json()["error"]["field"] == "webhook-signature"
    bad = json.dumps({"outcomes": [{"event_id": "w-2", "label": "fraud"}]}).encode()
    bad_headers = {**headers, "webhook-id": "msg-2",
                   "webhook-signature": Webhook(SECRET).sign("msg-2", stamp, bad.decode())}
    refused = httpx.post(f"{live_api}/v1/webhooks/outcomes/fraud", content=bad, headers=bad_headers)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "outcomes[0]", refused.text
    assert [(lb.source, lb.actor) for lb in table(ctx, Label)] == [("outcome", "followup:w-1")]
