"""A shadow challenger scores live traffic beside the champion and routes nothing; its figures are compared with
the champion's as labels arrive (issue 9 point 8). Over HTTP against the real app, with a real second ONNX
version whose scores are the champion's turned upside down."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import insert, select

from models.fraud import synthetic_transactions
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem, TrainingRun
from reviewqueue.kinds.tabular import encode_frame, export_onnx
from tests.factories import transaction, uncertain


@pytest.fixture
def inverted_v2(ctx, trained_fraud) -> int:
    """Version 2: a logistic regression trained on the fraud data with its labels flipped (a broken model)."""
    spec = ctx.registry.model("fraud")
    frame = encode_frame(spec, synthetic_transactions(n=4000, seed=3))
    estimator = LogisticRegression(max_iter=2000).fit(frame[spec.features.names].to_numpy(float),
                                                      1 - frame["label"].to_numpy())
    target = Path(ctx.settings.artifact_dir) / "fraud" / "2" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(export_onnx(estimator, len(spec.features.names)))
    values = {k: v for k, v in trained_fraud.items() if k != "id"}
    values.update(version=2, status="rejected", promoted_at=None, artifact_path=str(target),
                  sha256=hashlib.sha256(target.read_bytes()).hexdigest())
    with ctx.engine.begin() as conn:
        return int(conn.execute(insert(ModelVersion.__table__).values(**values)  # type: ignore[attr-defined]
                                .returning(ModelVersion.id)).scalar_one())


def predictions_of(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Prediction.__table__).order_by(Prediction.id)).all()  # type: ignore


def test_a_shadow_scores_beside_the_champion_routes_nothing_and_is_compared_as_labels_arrive(
        ctx, people, as_, inverted_v2):
    dan, shop, ana = as_("data_scientist"), as_("integration"), as_("reviewer")
    r = dan.post("/v1/models/fraud/versions/2/shadow", json={"reason": "see how the flipped model does"})
    assert r.status_code == 200, r.text
    assert (r.json()["trigger"], r.json()["status"]) == ("shadow_start", "recorded")
    assert r.json()["decision"].startswith("shadow: v2 scores beside the champion, by data_scientist")

    events = [uncertain(i) for i in range(12)] + [transaction(100 + i, risky=i % 4 == 0) for i in range(28)]
    answered = shop.post("/v1/models/fraud/predictions", json={"events": events}).json()["predictions"]
    rows = predictions_of(ctx)
    spec = ctx.registry.model("fraud")
    # the champion routed everything: every route follows its score, none the shadow's
    assert all(p["model_version"] == 1 for p in answered)
    assert all(row.route == spec.routing.route(row.score).value for row in rows)
    assert all(row.shadow_version_id == inverted_v2 and row.shadow_score is not None for row in rows)
    assert sum(row.route != spec.routing.route(row.shadow_score).value for row in rows) > 10  # it would differ
    with ctx.engine.connect() as conn:
        items = conn.execute(select(ReviewItem.prediction_id)).scalars().all()
    # (an auto-flag is reviewed too: the fraud verdict's refund and ban are human-only)
    assert sorted(items) == sorted(row.id for row in rows if row.route in ("review", "auto_flag") or row.audited)

    # labels arrive: reviewers decide the review items, outcomes label the auto-decisions
    for _ in range(sum(row.route in ("review", "auto_flag") for row in rows)):
        item = ana.post("/v1/queues/fraud/claim").json()
        verdict = "fraud" if item["score"] > 0.5 else "legit"
        assert ana.post(f"/v1/items/{item['id']}/decision",
                        json={"verdict": verdict, "lease_token": item["lease_token"]}).status_code == 200
    outcomes = [{"event_id": f"o{row.id}", "external_id": row.external_id, "source": "followup",
                 "label": "fraud" if row.route == "auto_flag" else "legit"} for row in rows if row.route != "review"]
    assert shop.post("/v1/models/fraud/outcomes", json={"outcomes": outcomes}).status_code == 200
    report = dan.get("/v1/models/fraud/shadow").json()
    assert (report["shadow_version"], report["champion_version"], report["scored"]) == (2, 1, 40)
    assert report["labelled"] == 40 and report["positives"] > 0
    assert report["shadow_auc"] < 0.5 < report["champion_auc"]  # the flipped model ranks upside down
    assert report["difference"] < 0 and report["low"] <= report["difference"] <= report["high"]
    assert report["summary"].startswith("v2 vs champion v1: -")

    stop = dan.post("/v1/models/fraud/shadow/stop", json={"reason": "seen enough"})
    assert stop.status_code == 200 and stop.json()["decision"].startswith("shadow stopped: v2")
    shop.post("/v1/models/fraud/predictions", json={"events": [transaction(999)]})
    assert predictions_of(ctx)[-1].shadow_score is None
    with ctx.engine.connect() as conn:
        assert conn.execute(select(ModelVersion.status).where(ModelVersion.version == 2)).scalar_one() == "rejected"
        assert conn.execute(select(TrainingRun.trigger).order_by(TrainingRun.id)).scalars().all() == [
            "shadow_start", "shadow_stop"]


def test_shadow_refusals(ctx, as_, inverted_v2):
    body = {"reason": "because"}
    assert as_("reviewer").post("/v1/models/fraud/versions/2/shadow", json=body).status_code == 403
    assert as_("integration").get("/v1/models/fraud/shadow").status_code == 403
    admin = as_("admin")
    serving = admin.post("/v1/models/fraud/versions/1/shadow", json=body)
    assert serving.status_code == 409 and serving.json()["error"]["field"] == "version"
    assert admin.post("/v1/models/fraud/shadow/stop", json=body).status_code == 409  # nothing in shadow
    assert admin.get("/v1/models/fraud/shadow").json()["summary"] == "no version is in shadow"
