"""Promote, roll back and score without storing (issue 9 points 8-9), over HTTP against the real app: a person
changes what serves, the run records who and why, the next request is scored by it; scoring a version stores
nothing; roles the table does not grant are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from reviewqueue.db.tables import ModelVersion, Prediction, TrainingRun
from tests.factories import install_version, transaction, uncertain


@pytest.fixture
def two_versions(ctx, trained_fraud):
    """v1 serves; v2 is an evaluated, rejected candidate (the same artifact, stored as version 2)."""
    install_version(ctx, {**trained_fraud, "version": 2, "status": "rejected", "promoted_at": None})
    return ctx


def statuses(ctx) -> dict[int, str]:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(ModelVersion.version, ModelVersion.status)).all())


def test_promote_then_roll_back_with_who_and_why(two_versions, as_):
    ctx = two_versions
    dan, system = as_("data_scientist"), as_("integration")
    r = dan.post("/v1/models/fraud/versions/2/promote", json={"reason": "better on last week's chargebacks"})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["trigger"] == "promote" and run["status"] == "promoted"
    assert run["decision"] == ("promote: v2 serves instead of v1, by data_scientist: better on last week's "
                               "chargebacks")
    assert statuses(ctx) == {1: "retired", 2: "champion"}
    scored = system.post("/v1/models/fraud/predictions", json={"events": [transaction(1)]}).json()
    assert scored["predictions"][0]["model_version"] == 2  # the next request, no restart
    again = dan.post("/v1/models/fraud/versions/2/promote", json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "version"

    r = dan.post("/v1/models/fraud/rollback", json={"reason": "refund complaints doubled"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "rollback: v1 serves instead of v2, by data_scientist: refund complaints doubled"
    assert statuses(ctx) == {1: "champion", 2: "retired"}
    scored = system.post("/v1/models/fraud/predictions", json={"events": [transaction(2)]}).json()
    assert scored["predictions"][0]["model_version"] == 1
    with ctx.engine.connect() as conn:
        triggers = conn.execute(select(TrainingRun.trigger).order_by(TrainingRun.id)).scalars().all()
    assert triggers == ["promote", "rollback"]
    listed = [r["trigger"] for r in dan.get("/v1/models/fraud/runs").json()]
    assert listed == ["rollback", "promote"]


def test_refusals(two_versions, as_):
    body = {"reason": "because"}
    for who in ("reviewer", "integration"):
        assert as_(who).post("/v1/models/fraud/versions/2/promote", json=body).status_code == 403
        assert as_(who).post("/v1/models/fraud/rollback", json=body).status_code == 403
        assert as_(who).post("/v1/models/fraud/versions/1/score", json={"features": [uncertain(1)["features"]]}
                             ).status_code == 403
    admin = as_("admin")
    assert admin.post("/v1/models/fraud/rollback", json=body).status_code == 409  # nothing served before v1
    missing = admin.post("/v1/models/fraud/versions/2/promote", json={})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "reason"
    blank = admin.post("/v1/models/fraud/versions/2/promote", json={"reason": "   "})
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "reason"
    unknown = admin.post("/v1/models/fraud/versions/9/promote", json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "version"
    assert statuses(two_versions) == {1: "champion", 2: "rejected"}


def test_score_without_storing_matches_what_ingest_would_score(two_versions, as_):
    ctx = two_versions
    rows = [uncertain(1)["features"], transaction(2)["features"]]
    r = as_("data_scientist").post("/v1/models/fraud/versions/2/score", json={"features": rows})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["model"], out["version"], len(out["scores"])) == ("fraud", 2, 2)
    assert out["would_route"] == ["review", "auto_pass"]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Prediction)).scalar_one() == 0  # nothing stored
    stored = as_("integration").post("/v1/models/fraud/predictions",
                                     json={"events": [uncertain(1), transaction(2)]}).json()["predictions"]
    assert [p["score"] for p in stored] == pytest.approx(out["scores"], abs=1e-6)  # same artifact as v1
    bad = as_("data_scientist").post("/v1/models/fraud/versions/2/score",
                                     json={"features": [rows[0], {**rows[1], "amount": "lots"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "features[1].amount", bad.text
