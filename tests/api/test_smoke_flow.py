from __future__ import annotations

from fastapi.testclient import TestClient

from reviewqueue.api import create_app
from tests.factories import transaction, uncertain


def test_ingest_claim_decide_in_process(ctx, people):
    """The API's happy path in one process: ingest a batch, see the queue, claim an item, decide it."""
    client = TestClient(create_app(ctx))
    auth = {"Authorization": f"Bearer {people.integration}"}
    events = [transaction(i, risky=(i % 3 == 0)) for i in range(30)] + [uncertain(0)]
    r = client.post("/v1/models/fraud/predictions", json={"events": events}, headers=auth)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == len(events)
    rv = {"Authorization": f"Bearer {people.reviewer}"}
    q = client.get("/v1/queues", headers=rv)
    assert q.status_code == 200, q.text
    c = client.post("/v1/queues/fraud/claim", headers=rv)
    assert c.status_code == 200, c.text
    item = c.json()
    d = client.post(f"/v1/items/{item['id']}/decision", json={"verdict": "fraud", "lease_token": item["lease_token"]},
                    headers=rv)
    assert d.status_code == 200, d.text
    assert d.json()["item_id"] == item["id"] and d.json()["verdict"] == "fraud"
    assert client.get(f"/v1/items/{item['id']}", headers=rv).json()["status"] == "decided"
