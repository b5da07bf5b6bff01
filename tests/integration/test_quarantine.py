"""Defence in depth (issue 10 point 1): an item whose stored event cannot be shown — a row written before input
validation, inserted here through the db layer as such an old row would be — is quarantined: out of the claim
path, never half-held by a reviewer, listed for admins. Over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from reviewqueue.db import items
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem
from tests.factories import uncertain

BAD_CONTEXTS = {
    "lone surrogate": {"user_id": "u\ud800"},
    "NUL": {"user_id": "u\x00"},
    "integer beyond int64": {"user_id": 10**30},
}


def old_bad_item(ctx, as_, n: int, context: dict[str, Any], priority: float = 1000.0,
                 version_id: int | None = None) -> int:
    """A prediction and its pending item with ``context`` stored as-is (no validation), ranked first."""
    good = as_("integration").post("/v1/models/fraud/predictions", json={"events": [uncertain(900 + n)]})
    assert good.status_code == 200, good.text
    with ctx.engine.begin() as conn:
        row = conn.execute(select(Prediction.__table__).where(  # type: ignore[attr-defined]
            Prediction.__table__.c.external_id == f"tx-u{900 + n}")).mappings().one()  # type: ignore[attr-defined]
        copy = {k: v for k, v in row.items() if k != "id"}
        copy.update(external_id=f"old-bad-{n}", context=context, correlation_key=None,
                    version_id=version_id or copy["version_id"])
        # a plain INSERT, as the old row was written: the ingest path's guarded insert would (rightly) refuse a row
        # scored by a version that is not the champion
        table = Prediction.__table__  # type: ignore[attr-defined]
        prediction_id = conn.execute(insert(table).values(**copy).returning(table.c.id)).scalar_one()
        [item_id] = items.insert_items(conn, [{"prediction_id": prediction_id, "queue": "fraud", "kind": "review",
                                              "priority": priority, "status": "pending",
                                              "created_at": ctx.now()}])
    return item_id


def status_of(ctx, item_id: int) -> tuple[str, int | None, str | None]:
    t = ReviewItem.__table__  # type: ignore[attr-defined]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(t.c.status, t.c.claimed_by, t.c.lease_token).where(t.c.id == item_id)).one()
    return row.status, row.claimed_by, row.lease_token


@pytest.mark.parametrize("context", BAD_CONTEXTS.values(), ids=BAD_CONTEXTS.keys())
def test_a_claim_skips_an_unshowable_item_to_the_next_good_one_and_quarantines_it(ctx, as_, people, context):
    bad = old_bad_item(ctx, as_, 1, context)  # (its good twin is an item too, ranked below it)
    as_("integration").post("/v1/models/fraud/predictions", json={"events": [uncertain(1)]})

    claimed = as_("reviewer").post("/v1/queues/fraud/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] != bad and claimed.json()["lease_token"]
    assert status_of(ctx, bad) == ("quarantined", None, None)
    # the reviewer holds exactly the item they were shown, and decides it; so does the next one
    decision = {"verdict": "legit", "lease_token": claimed.json()["lease_token"]}
    assert as_("reviewer").post(f"/v1/items/{claimed.json()['id']}/decision", json=decision).status_code == 200
    other = as_("reviewer2").post("/v1/queues/fraud/claim").json()
    assert other["id"] not in (bad, claimed.json()["id"])
    decision = {"verdict": "legit", "lease_token": other["lease_token"]}
    assert as_("reviewer2").post(f"/v1/items/{other['id']}/decision", json=decision).status_code == 200
    # nobody is handed the quarantined item: the queue is empty for everyone
    assert as_("reviewer2").post("/v1/queues/fraud/claim").status_code == 204
    assert as_("reviewer").post("/v1/queues/fraud/claim").status_code == 204


def test_showing_it_is_a_clear_409_and_admins_list_the_quarantine(ctx, as_, people):
    bad = old_bad_item(ctx, as_, 2, BAD_CONTEXTS["lone surrogate"])
    shown = as_("admin").get(f"/v1/items/{bad}")
    assert shown.status_code == 409, shown.text
    assert "context.user_id" in shown.json()["error"]["message"] and "quarantined" in shown.json()["error"]["message"]
    assert status_of(ctx, bad)[0] == "quarantined"

    listed = as_("admin").get("/v1/items", params={"status": "quarantined"})
    assert listed.status_code == 200 and [i["id"] for i in listed.json()] == [bad], listed.text
    assert as_("admin").get("/v1/items").json() == listed.json()  # quarantined is the default
    for who in ("reviewer", "data_scientist", "integration"):
        assert as_(who).get("/v1/items").status_code == 403
    # a decision on it is refused: nobody holds it
    r = as_("reviewer").post(f"/v1/items/{bad}/decision", json={"verdict": "fraud", "lease_token": "x" * 32})
    assert r.status_code == 409


def test_a_reviewer_left_holding_an_unshowable_item_gets_the_next_good_one(ctx, as_, people):
    """The state the bug left behind: the claim committed, its answer failed, the reviewer holds an item they
    never saw. Their next claim quarantines it and hands them the next good item."""
    bad = old_bad_item(ctx, as_, 3, BAD_CONTEXTS["lone surrogate"])
    as_("integration").post("/v1/models/fraud/predictions", json={"events": [uncertain(1), uncertain(2)]})
    with ctx.engine.begin() as conn:
        assert items.claim_next_item(conn, ["fraud"], people.ids["reviewer"], "t" * 32, ctx.now(),
                                     ctx.settings.lease_seconds).id == bad
    first = as_("reviewer").post("/v1/queues/fraud/claim")
    assert first.status_code == 200 and first.json()["id"] != bad and first.json()["lease_token"], first.text
    assert status_of(ctx, bad) == ("quarantined", None, None)
    second = as_("reviewer2").post("/v1/queues/fraud/claim")
    assert second.status_code == 200 and second.json()["id"] not in (bad, first.json()["id"])


def test_many_unshowable_items_never_block_the_good_ones(ctx, as_, people):
    bad = [old_bad_item(ctx, as_, 10 + n, BAD_CONTEXTS["lone surrogate"], priority=1000.0 + n) for n in range(3)]
    made = as_("integration").post("/v1/models/fraud/predictions", json={"events": [uncertain(i) for i in range(5)]})
    good = {p["item_id"] for p in made.json()["predictions"]} | {b - 1 for b in bad}  # and the bad ones' twins
    decided = set()
    for n in range(len(good)):
        who = ("reviewer", "reviewer2")[n % 2]
        claimed = as_(who).post("/v1/queues/fraud/claim")
        assert claimed.status_code == 200, claimed.text
        item = claimed.json()
        assert as_(who).post(f"/v1/items/{item['id']}/decision",
                             json={"verdict": "legit", "lease_token": item["lease_token"]}).status_code == 200
        decided.add(item["id"])
    assert decided == good
    assert [status_of(ctx, b)[0] for b in bad] == ["quarantined"] * 3


def test_an_item_whose_view_fails_otherwise_is_quarantined_and_the_next_claim_gets_the_next_item(
        ctx, as_, people, tmp_path):
    """Its version's artifact is gone (pruned, say), so explaining it raises: that claim answers the error, the
    item is quarantined, and the reviewer's next claim gets the next good item — never the same one again."""
    t = ModelVersion.__table__  # type: ignore[attr-defined]
    with ctx.engine.begin() as conn:
        v1 = conn.execute(select(t).where(t.c.model_name == "fraud", t.c.version == 1)).mappings().one()
        gone = {k: v for k, v in v1.items() if k != "id"}
        gone.update(version=7, status="retired", promoted_at=None, artifact_path=str(tmp_path / "gone.onnx"))
        gone_id = conn.execute(insert(t).values(**gone).returning(t.c.id)).scalar_one()
    bad = old_bad_item(ctx, as_, 5, {"user_id": "fine"}, version_id=gone_id)

    failed = as_("reviewer").post("/v1/queues/fraud/claim")
    assert failed.status_code == 500, failed.text
    assert status_of(ctx, bad) == ("quarantined", None, None)
    claimed = as_("reviewer").post("/v1/queues/fraud/claim")
    assert claimed.status_code == 200 and claimed.json()["id"] != bad and claimed.json()["lease_token"]
