"""The API says what each route means for the model beside the stored value: predictions, items, a subject's
history and the model list carry ``route_label`` / ``route_labels`` (fraud: "auto: fraud", "auto: legit"), and
stored routes are unchanged."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from reviewqueue.api import create_app
from reviewqueue.db.tables import Prediction
from tests.factories import transaction, uncertain


def test_predictions_items_and_models_carry_the_route_label(ctx, people):  # type: ignore[no-untyped-def]
    client = TestClient(create_app(ctx))
    shop = {"Authorization": f"Bearer {people.integration}"}
    events = [uncertain(0), transaction(1, risky=True), transaction(0)]  # tx-0: user u0 again
    answer = client.post("/v1/models/fraud/predictions", json={"events": events}, headers=shop)
    assert answer.status_code == 200, answer.text
    got = [(p["route"], p["route_label"]) for p in answer.json()["predictions"]]
    assert got == [("review", "review"), ("auto_flag", "auto: fraud"), ("auto_pass", "auto: legit")]
    again = client.post("/v1/models/fraud/predictions", json={"events": events[2:]}, headers=shop).json()
    assert again["predictions"][0]["duplicate"] and again["predictions"][0]["route_label"] == "auto: legit"
    with ctx.engine.connect() as conn:  # what is stored does not change
        assert sorted(conn.execute(select(Prediction.route)).scalars()) == ["auto_flag", "auto_pass", "review"]

    reviewer = {"Authorization": f"Bearer {people.reviewer}"}
    item_id = answer.json()["predictions"][1]["item_id"]  # the auto-flag waits for a person (refund is human-only)
    item = client.get(f"/v1/items/{item_id}", headers=reviewer).json()
    assert (item["route"], item["route_label"]) == ("auto_flag", "auto: fraud")

    review_item = answer.json()["predictions"][0]["item_id"]
    history = client.get(f"/v1/items/{review_item}/history", headers=reviewer).json()  # user u0's other events
    assert [(e["external_id"], e["route"], e["route_label"]) for e in history["entries"]] == [
        ("tx-0", "auto_pass", "auto: legit")]

    [fraud] = [m for m in client.get("/v1/models", headers=shop).json() if m["name"] == "fraud"]
    assert fraud["route_labels"] == {"review": "review", "auto_flag": "auto: fraud", "auto_pass": "auto: legit"}
