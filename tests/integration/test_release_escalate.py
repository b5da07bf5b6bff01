"""Release and escalate over HTTP: a reviewer lets go of an item (back to the queue, skipped by their own claims
for ``release_hold_seconds``) or sends it to the model's escalation queue with a note, for a senior reviewer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewqueue.db.tables import AuditEntry, Lease, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import auth, ingest, queue
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import AppContext
from tests.clock import FakeClock
from tests.factories import create_person, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


@pytest.fixture
def clock(ctx):
    ctx.clock = FakeClock()
    return ctx.clock


@pytest.fixture
def senior(ctx, http):
    """A senior reviewer granted only the fraud model's escalation queue."""
    principal_id = create_person(ctx, "senior", Role.REVIEWER, ["fraud-senior"])
    return http(auth.issue_token(ctx, principal_id, label="test"))


def enqueue(ctx, n):
    """``n`` review items of the fraud queue; their ids."""
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(n)])
    with ctx.engine.connect() as conn:
        return [r.id for r in conn.execute(select(ReviewItem.__table__))]  # type: ignore[attr-defined]


def item_row(ctx, item_id):
    with ctx.engine.connect() as conn:
        return conn.execute(select(ReviewItem.__table__).where(ReviewItem.id == item_id)).one()  # type: ignore[attr-defined]


def audit_rows(ctx, action):
    with ctx.engine.connect() as conn:
        table = AuditEntry.__table__  # type: ignore[attr-defined]
        return conn.execute(select(table).where(table.c.action == action).order_by(table.c.id)).all()


def hold_rows(ctx):
    with ctx.engine.connect() as conn:
        table = Lease.__table__  # type: ignore[attr-defined]
        return conn.execute(select(table).where(table.c.name.like("hold:%"))).all()


def claim(client, queue_name="fraud"):
    r = client.post(f"/v1/queues/{queue_name}/claim")
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


def error_of(response):
    return response.json()["error"]


def test_release_puts_the_item_back_for_others_while_the_releaser_gets_another(ctx, as_, people, clock):
    enqueue(ctx, 2)
    reviewer, reviewer2 = as_("reviewer"), as_("reviewer2")
    first = claim(reviewer)
    r = reviewer.post(f"/v1/items/{first['id']}/release", json={"lease_token": first["lease_token"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["queue"] == "fraud"
    row = item_row(ctx, first["id"])
    assert (row.status, row.claimed_by, row.lease_token, row.lease_expires_at) == ("pending", None, None, None)

    second = claim(reviewer)
    assert second["id"] != first["id"]
    assert claim(reviewer2)["id"] == first["id"]  # another reviewer gets the released item at once

    [entry] = audit_rows(ctx, "item.released")
    assert (entry.actor, entry.actor_id, entry.target, entry.detail["queue"]) == \
        ("reviewer", people.ids["reviewer"], f"item:{first['id']}", "fraud")


def test_the_releaser_gets_the_item_again_after_the_hold(ctx, as_, clock):
    [item_id] = enqueue(ctx, 1)
    reviewer = as_("reviewer")
    held = claim(reviewer)
    assert reviewer.post(f"/v1/items/{item_id}/release", json={"lease_token": held["lease_token"]}).status_code == 200
    assert claim(reviewer) is None  # the only pending item is the one just released
    clock.advance(ctx.settings.release_hold_seconds - 1)
    assert claim(reviewer) is None
    clock.advance(2)
    again = claim(reviewer)
    assert again["id"] == item_id
    # releasing again later drops the expired hold and sets a new one: one row per reviewer and item
    assert reviewer.post(f"/v1/items/{item_id}/release", json={"lease_token": again["lease_token"]}).status_code == 200
    assert len(hold_rows(ctx)) == 1 and claim(reviewer) is None


def test_the_hold_is_in_the_database_so_every_api_process_honours_it(ctx, as_, people, clock):
    enqueue(ctx, 2)
    reviewer = as_("reviewer")
    first = claim(reviewer)
    assert reviewer.post(f"/v1/items/{first['id']}/release", json={"lease_token": first["lease_token"]}
                         ).status_code == 200
    other_process = AppContext(settings=ctx.settings, engine=ctx.engine, registry=ctx.registry, clock=ctx.clock)
    actor = auth.authenticate(other_process, people.reviewer)
    assert queue.claim_next(other_process, actor, "fraud").id != first["id"]


def test_escalate_moves_the_item_to_the_senior_queue_with_its_note(ctx, as_, senior, people, clock):
    enqueue(ctx, 1)
    reviewer = as_("reviewer")
    held = claim(reviewer)
    note = "Card testing pattern, but the customer is a known merchant <b>?</b>"
    r = reviewer.post(f"/v1/items/{held['id']}/escalate", json={"lease_token": held["lease_token"], "note": note})
    assert r.status_code == 200, r.text
    assert (r.json()["from_queue"], r.json()["queue"], r.json()["note"], r.json()["by"]) == \
        ("fraud", "fraud-senior", note, "reviewer")
    row = item_row(ctx, held["id"])
    assert (row.queue, row.status, row.claimed_by, row.priority) == ("fraud-senior", "pending", None, held["priority"])

    assert claim(reviewer) is None  # gone from the fraud queue
    r = reviewer.post("/v1/queues/fraud-senior/claim")
    assert r.status_code == 403 and error_of(r)["field"] == "queue"
    assert "fraud-senior" in senior.get("/v1/me").json()["review_queues"]
    assert "fraud-senior" not in reviewer.get("/v1/me").json()["review_queues"]
    seniors = {q["queue"]: q for q in senior.get("/v1/queues").json()}
    assert seniors["fraud-senior"]["kind"] == "escalation" and seniors["fraud-senior"]["pending"] == 1

    got = claim(senior, "fraud-senior")
    assert got["id"] == held["id"] and got["queue"] == "fraud-senior" and got["priority"] == held["priority"]
    assert got["escalation"]["note"] == note and got["escalation"]["by"] == "reviewer"
    assert got["escalation"]["from_queue"] == "fraud"
    assert senior.get(f"/v1/items/{held['id']}").json()["escalation"]["note"] == note
    assert claim(reviewer2 := as_("reviewer2")) is None and reviewer2.get(f"/v1/items/{held['id']}").status_code == 403
    d = senior.post(f"/v1/items/{held['id']}/decision", json={"verdict": "legit", "lease_token": got["lease_token"]})
    assert d.status_code == 200, d.text

    [entry] = audit_rows(ctx, "item.escalated")
    assert (entry.actor_id, entry.target, entry.detail) == \
        (people.ids["reviewer"], f"item:{held['id']}", {"from_queue": "fraud", "queue": "fraud-senior", "note": note})


def test_an_admin_may_claim_escalated_items(ctx, as_, clock):
    enqueue(ctx, 1)
    held = claim(as_("reviewer"))
    assert as_("reviewer").post(f"/v1/items/{held['id']}/escalate",
                                json={"lease_token": held["lease_token"], "note": "unsure"}).status_code == 200
    got = claim(as_("admin"), "fraud-senior")
    assert got["id"] == held["id"] and got["escalation"]["note"] == "unsure"


@pytest.mark.parametrize("path", ["release", "escalate"])
def test_release_and_escalate_refusals_store_nothing(ctx, as_, http, people, clock, path):
    enqueue(ctx, 1)
    reviewer = as_("reviewer")
    held = claim(reviewer)
    url = f"/v1/items/{held['id']}/{path}"
    note = {"note": "why"} if path == "escalate" else {}

    r = reviewer.post(url, json={"lease_token": "not-the-token", **note})
    assert r.status_code == 409 and error_of(r)["type"] == "lease_lost", r.text
    r = as_("reviewer2").post(url, json={"lease_token": held["lease_token"], **note})  # not theirs
    assert r.status_code == 409 and error_of(r)["type"] == "lease_lost", r.text
    r = as_("outsider").post(url, json={"lease_token": held["lease_token"], **note})  # not their queue
    assert r.status_code == 403 and error_of(r)["field"] == "queue", r.text
    r = as_("integration").post(url, json={"lease_token": held["lease_token"], **note})  # may not review at all
    assert r.status_code == 403, r.text
    r = reviewer.post(f"/v1/items/{held['id'] + 999}/{path}", json={"lease_token": held["lease_token"], **note})
    assert r.status_code == 404, r.text
    r = reviewer.post(url, json={**note})
    assert r.status_code == 422 and error_of(r)["field"] == "lease_token", r.text
    if path == "escalate":
        for body in ({}, {"note": ""}, {"note": "   "}, {"note": None}):
            r = reviewer.post(url, json={"lease_token": held["lease_token"], **body})
            assert r.status_code == 422 and error_of(r)["field"] == "note", (body, r.text)

    row = item_row(ctx, held["id"])
    assert (row.queue, row.status, row.claimed_by) == ("fraud", "claimed", people.ids["reviewer"])
    clock.advance(ctx.settings.lease_seconds + 1)  # the lease ran out: no longer the reviewer's to let go of
    r = reviewer.post(url, json={"lease_token": held["lease_token"], **note})
    assert r.status_code == 409 and error_of(r)["type"] == "lease_lost", r.text
    assert audit_rows(ctx, "item.released") == [] and audit_rows(ctx, "item.escalated") == []
    assert hold_rows(ctx) == []
    assert item_row(ctx, held["id"]).queue == "fraud"


def test_an_escalated_item_cannot_be_escalated_again(ctx, as_, senior, clock):
    enqueue(ctx, 1)
    held = claim(as_("reviewer"))
    assert as_("reviewer").post(f"/v1/items/{held['id']}/escalate",
                                json={"lease_token": held["lease_token"], "note": "a"}).status_code == 200
    got = claim(senior, "fraud-senior")
    r = senior.post(f"/v1/items/{got['id']}/escalate", json={"lease_token": got["lease_token"], "note": "b"})
    assert r.status_code == 409, r.text
    assert len(audit_rows(ctx, "item.escalated")) == 1
    # a senior may release it: back to the senior queue, not the reviewers'
    r = senior.post(f"/v1/items/{got['id']}/release", json={"lease_token": got["lease_token"]})
    assert r.status_code == 200 and r.json()["queue"] == "fraud-senior"
    assert item_row(ctx, got["id"]).queue == "fraud-senior"
