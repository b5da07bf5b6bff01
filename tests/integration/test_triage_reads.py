"""Triage that informs, over HTTP on both databases: the subject's history (the model's history key, stored as
predictions.subject at ingest), deep links that claim one named item through the claim path or show it
read-only, and a reviewer's own decisions with search and keyset paging. Reads are scoped like writes: another
queue's item is a 404 indistinguishable from an unknown id."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewqueue.db.tables import Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import ingest
from reviewqueue.services.auth import Actor
from tests.clock import FakeClock
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


@pytest.fixture
def clock(ctx):
    ctx.clock = FakeClock()
    return ctx.clock


def same_customer(ctx, user_id="u7"):
    """Four events of one customer, in this order: an uncertain one (an item), an obvious one (auto-flagged,
    and an item too: its refund waits for a person), a harmless one (auto-passed, no item), another uncertain
    one; and one uncertain event of someone else. Ids of the four items, in ingest order."""
    events = [uncertain(1), transaction(2, risky=True), transaction(3), uncertain(4)]
    for i, event in enumerate(events):
        event["context"]["user_id"] = user_id
        event["external_id"] = f"cust-{i}"
        ingest.ingest(ctx, SYSTEM, "fraud", [event])
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(9)])
    with ctx.engine.connect() as conn:
        return [r.id for r in conn.execute(select(ReviewItem.__table__).order_by(ReviewItem.id))]  # type: ignore[attr-defined]


def claimed(client, item_id):
    r = client.post(f"/v1/items/{item_id}/claim")
    assert r.status_code == 200, r.text
    return r.json()


def decide(client, item, verdict="legit", note=""):
    r = client.post(f"/v1/items/{item['id']}/decision",
                    json={"verdict": verdict, "lease_token": item["lease_token"], "note": note})
    assert r.status_code == 200, r.text
    return r.json()


def test_ingest_stores_the_history_key_and_triage_lists_the_subjects_other_predictions(ctx, as_, clock):
    first, _flagged, last, _other = same_customer(ctx)
    with ctx.engine.connect() as conn:
        subjects = dict(conn.execute(select(Prediction.external_id, Prediction.subject)).all())
    assert subjects == {"cust-0": "u7", "cust-1": "u7", "cust-2": "u7", "cust-3": "u7", "tx-u9": "u9"}

    reviewer = as_("reviewer")
    decide(reviewer, claimed(reviewer, first), "legit", note="known customer")
    r = reviewer.get(f"/v1/items/{last}/history")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["key"], body["subject"], body["limit"]) == ("user_id", "u7", 20)
    # newest first, the item itself and the other customer left out, each with how it was decided and by whom
    assert [(e["external_id"], e["route"], e["verdict"], e["decided_by"], e["decision_source"])
            for e in body["entries"]] == [
        ("cust-2", "auto_pass", "legit", "model:fraud", "model"),
        ("cust-1", "auto_flag", "fraud", "model:fraud", "model"),
        ("cust-0", "review", "legit", "reviewer", "reviewer"),
    ]
    assert body["entries"][2]["item_status"] == "decided" and body["entries"][0]["item_id"] is None
    assert body["entries"][2]["features"]["amount"] == 40.5

    assert [e["external_id"] for e in reviewer.get(f"/v1/items/{last}/history", params={"limit": 1}
                                                   ).json()["entries"]] == ["cust-2"]
    bad = reviewer.get(f"/v1/items/{last}/history", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text


def test_history_and_deep_links_do_not_tell_other_queues_what_exists(ctx, as_, clock):
    first, *_ = same_customer(ctx)
    outsider = as_("outsider")  # a reviewer of the clinical queue only
    answers = [outsider.get(f"/v1/items/{first}/history"), outsider.get("/v1/items/999999/history"),
               outsider.post(f"/v1/items/{first}/open"), outsider.post("/v1/items/999999/open"),
               outsider.post(f"/v1/items/{first}/claim"), outsider.post("/v1/items/999999/claim")]
    assert [r.status_code for r in answers] == [404] * 6
    messages = [r.json()["error"]["message"].replace(str(first), "N").replace("999999", "N") for r in answers]
    assert len(set(messages)) == 1, messages  # the same words whether or not the item exists
    assert as_("integration").get(f"/v1/items/{first}/history").status_code == 403


def test_a_deep_link_claims_a_pending_item_through_the_claim_path(ctx, as_, people, clock):
    first, _flagged, last, _other = same_customer(ctx)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    r = reviewer.post(f"/v1/items/{last}/open")
    assert r.status_code == 200, r.text
    opened = r.json()
    assert (opened["leased"], opened["read_only_reason"], opened["item"]["id"]) == (True, None, last)
    assert opened["item"]["claimed_by_me"] and opened["item"]["lease_token"]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ReviewItem.__table__).where(ReviewItem.id == last)).one()  # type: ignore[attr-defined]
    assert (row.status, row.claimed_by, row.lease_token) == ("claimed", people.ids["reviewer"],
                                                             opened["item"]["lease_token"])
    assert row.claimed_at == clock()  # like any claim: the reviewer's time to decision starts here
    # following the link again (a reload) gives the same lease back, not a second item
    assert reviewer.post(f"/v1/items/{last}/open").json()["item"]["lease_token"] == opened["item"]["lease_token"]
    # holding one item of the queue, a link to another is refused rather than leasing a second
    other = reviewer.post(f"/v1/items/{first}/claim")
    assert other.status_code == 409 and f"you hold item {last}" in other.json()["error"]["message"]

    # someone else's link to it: read-only, saying why; a strict claim is 409 with the same reason
    seen = reviewer2.post(f"/v1/items/{last}/open").json()
    assert (seen["leased"], seen["read_only_reason"], seen["item"]["lease_token"]) == \
        (False, "another reviewer is working on it", None)
    assert "another reviewer is working on it" in reviewer2.post(f"/v1/items/{last}/claim").json()["error"]["message"]

    decide(reviewer, opened["item"], "legit", note="fine")
    after = reviewer2.post(f"/v1/items/{last}/open").json()
    assert (after["leased"], after["read_only_reason"]) == (False, "it is already decided")
    assert (after["decision"]["verdict"], after["decision"]["actor"], after["decision"]["note"]) == \
        ("legit", "reviewer", "fine")


def test_a_deep_link_respects_the_release_hold(ctx, as_, clock):
    first, *_ = same_customer(ctx)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    held = claimed(reviewer, first)
    assert reviewer.post(f"/v1/items/{first}/release", json={"lease_token": held["lease_token"]}).status_code == 200
    refused = reviewer.post(f"/v1/items/{first}/claim")
    assert refused.status_code == 409 and "released it or voted on it" in refused.json()["error"]["message"]
    assert reviewer.post(f"/v1/items/{first}/open").json()["leased"] is False
    assert claimed(reviewer2, first)["id"] == first  # the hold is the releaser's alone
    clock.advance(ctx.settings.release_hold_seconds + 1)


def test_my_decisions_newest_first_searchable_and_paged(ctx, as_, clock):
    items = same_customer(ctx)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    for item_id in items:
        decide(reviewer, claimed(reviewer, item_id), "legit")
        clock.advance(1)
    mine = reviewer.get("/v1/me/decisions").json()
    assert [d["external_id"] for d in mine] == ["tx-u9", "cust-3", "cust-1", "cust-0"]
    assert all(d["verdict"] == "legit" and d["queue"] == "fraud" and d["model"] == "fraud" for d in mine)
    page = reviewer.get("/v1/me/decisions", params={"limit": 3}).json()
    rest = reviewer.get("/v1/me/decisions", params={"limit": 3, "before_id": page[-1]["id"]}).json()
    assert [d["id"] for d in page + rest] == [d["id"] for d in mine]
    assert [d["external_id"] for d in reviewer.get("/v1/me/decisions", params={"external_id": "cust"}).json()] == \
        ["cust-3", "cust-1", "cust-0"]
    assert reviewer.get("/v1/me/decisions", params={"external_id": "cust%"}).json() == []  # % is a character
    assert reviewer2.get("/v1/me/decisions").json() == []
    bad = reviewer.get("/v1/me/decisions", params={"external_id": "x" * 201})
    assert bad.status_code == 422 and "external_id" in bad.text
    assert as_("integration").get("/v1/me/decisions").status_code == 403
