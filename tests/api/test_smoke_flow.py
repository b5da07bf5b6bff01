from __future__ import annotations

from fastapi.testclient import TestClient

from reviewqueue.api import create_app
from tests.conftest import transaction


def test_ingest_claim_decide_in_process(ctx, people):
    client = TestClient(create_app(ctx))
    auth = {"Authorization": f"Bearer {people.integration}"}
    events = [transaction(i, risky=(i % 3 == 0)) for i in range(30)]
    r = client.post("/v1/models/fraud/predictions", json={"events": events}, headers=auth)
    assert r.status_code == 200, r.text
    routes = {p["route"] for p in r.json()["predictions"]}
    print(routes, [round(p["score"], 3) for p in r.json()["predictions"]][:6])
    rv = {"Authorization": f"Bearer {people.reviewer}"}
    q = client.get("/v1/queues", headers=rv)
    assert q.status_code == 200, q.text
    print(q.json())
    c = client.post("/v1/queues/fraud/claim", headers=rv)
    print(c.status_code, c.text[:500])
