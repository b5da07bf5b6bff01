"""Bring your own ONNX file: registered through the decorator, validated against its graph (wrong input names or
types, an output that is not a probability: refused naming the field, nothing recorded), stored with its sha256,
served through the prediction API, and a changed file registered again judged by the promotion gate."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

import reviewqueue as rq
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem, TrainingRun
from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError, Conflict
from reviewqueue.services import auth, decisions, ingest, queue, registration, training
from reviewqueue.services.auth import authenticate
from reviewqueue.serving.sessions import sha256_file
from tests.byo.conftest import loan_spec, logistic_graph
from tests.factories import create_person
from tests.integration.test_training import SYSTEM, table


def event(i: int) -> dict:
    """Loan applications: amounts 10..105, ages 0..700 days; the truth (tests' labels) is amount ≥ 60."""
    return {"external_id": f"app-{i}", "features": {"amount": 10.0 + (i % 20) * 5, "age_days": (i * 37) % 701},
            "context": {}}


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_an_onnx_file_registers_serves_over_http_and_refuses_retraining(byo_ctx, tmp_path):
    path = logistic_graph(tmp_path / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)
    ctx = byo_ctx(loan_spec(path))
    first = registration.register(ctx, ctx.registry.model("loan"))
    assert first.run is not None and first.run.promoted and first.run.version == 1, first
    [version] = table(ctx, ModelVersion)
    stored = Path(version.artifact_path)
    assert stored != path and stored.read_bytes() == path.read_bytes(), "copied into the artifact store"
    assert version.sha256 == sha256_file(path) == version.lineage["source_sha256"]
    assert version.lineage["byo"] == "onnx_file" and version.lineage["max_label_id"] == 0
    again = registration.register(ctx, ctx.registry.model("loan"))
    assert again.run is None and again.summary.startswith("version 1 already holds this file")
    assert count(ctx, ModelVersion) == 1 and count(ctx, TrainingRun) == 1

    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    token = auth.issue_token(ctx, create_person(ctx, "bank", Role.INTEGRATION), label="test")
    with ThreadedServer(create_app(ctx)) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=15) as api:
        answer = api.post("/v1/models/loan/predictions", json={"events": [event(1), event(12)]})
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
        scores = [p["score"] for p in served]
        expected = 1 / (1 + np.exp(-(0.08 * np.array([15.0, 70.0]) - 4.8)))
        assert scores == pytest.approx(expected.tolist(), abs=1e-5)
        assert [p["model_version"] for p in served] == [1, 1]
        assert [p["route"] for p in served] == ["review", "review"]
        scientist = auth.issue_token(ctx, create_person(ctx, "dana", Role.DATA_SCIENTIST), label="test")
        refused = api.post("/v1/models/loan/retrain", headers={"Authorization": f"Bearer {scientist}"})
        assert refused.status_code == 409
        assert "cannot retrain it from labels" in str(refused.json()) and "models register loan" in \
            str(refused.json())
    assert count(ctx, Prediction) == 2 and count(ctx, ReviewItem) == 2
    assert count(ctx, TrainingRun) == 1, "a refused retrain records nothing"
    with pytest.raises(Conflict, match="is an ONNX file: reviewqueue cannot retrain it from labels"):
        training.train_version(ctx, ctx.registry.model("loan"), trigger="labels")


@pytest.mark.parametrize(("declared", "field", "message"), [
    ({"inputs": {"amount": float, "age": int}}, "inputs",
     r"inputs \['amount', 'age'\] do not match the graph's inputs \(amount tensor\(float\)\['N', 1\], age_days "
     r"tensor\(int64\)\['N', 1\]\); not in the graph: \['age'\]; not declared: \['age_days'\]"),
    ({"inputs": {"amount": float, "age_days": float}}, "inputs",
     r"inputs\['age_days'\] is declared float .*; the graph's input is tensor\(int64\)\['N', 1\]"),
    ({"output": "q"}, "output", r"output 'q' is not one of the graph's outputs \['p'\]"),
    ({"output": ("p", 1)}, "output", r"output 'p' has one column; column 1 does not exist"),
])
def test_a_declaration_that_does_not_match_the_graph_is_refused_naming_the_field(byo_ctx, tmp_path, declared,
                                                                                 field, message):
    path = logistic_graph(tmp_path / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)
    ctx = byo_ctx(loan_spec(path, **declared))
    with pytest.raises(ConfigurationError, match=message) as refused:
        registration.register(ctx, ctx.registry.model("loan"))
    assert refused.value.field == field
    assert count(ctx, ModelVersion) == 0 and count(ctx, TrainingRun) == 0, "nothing recorded"


def test_an_output_that_is_not_a_probability_and_a_missing_file_are_refused(byo_ctx, tmp_path):
    logits = logistic_graph(tmp_path / "logit.onnx", amount=0.08, age=0.0, bias=-4.8, sigmoid=False)
    ctx = byo_ctx(loan_spec(logits, output="logit"))
    with pytest.raises(ConfigurationError, match=r"output 'logit' is not a probability: on a probe batch of 8 rows "
                                                 r"it gave 8 values in \[-12\.8, 315\], expected one value in "
                                                 r"\[0, 1\] per row") as refused:
        registration.register(ctx, ctx.registry.model("loan"))
    assert refused.value.field == "output"
    ctx = byo_ctx(loan_spec(tmp_path / "absent.onnx"))
    with pytest.raises(ConfigurationError, match=r"onnx file .*absent.onnx does not exist") as missing:
        registration.register(ctx, ctx.registry.model("loan"))
    assert missing.value.field == "onnx"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    ctx = byo_ctx(loan_spec(broken))
    with pytest.raises(ConfigurationError, match="is not a loadable ONNX model") as unloadable:
        registration.register(ctx, ctx.registry.model("loan"))
    assert unloadable.value.field == "onnx" and count(ctx, TrainingRun) == 0


def test_a_declaration_is_checked_at_import():
    with pytest.raises(ConfigurationError, match="onnx=… needs inputs=…"):
        loan_spec("x.onnx", inputs=None)
    with pytest.raises(ConfigurationError, match=r"inputs\['note'\] is text"):
        loan_spec("x.onnx", inputs={"note": rq.Text()})
    with pytest.raises(ConfigurationError, match="output must be the output's name"):
        loan_spec("x.onnx", output=-1)
    relative = loan_spec("files/loan.onnx").source
    assert relative is not None and relative.path == Path(__file__).parent / "files" / "loan.onnx"


def test_a_new_file_is_a_candidate_the_gate_promotes_only_when_shown_better(byo_ctx, tmp_path):
    blind = logistic_graph(tmp_path / "v1.onnx", amount=0.0, age=0.002, bias=-0.7)  # ranks by age: noise
    ctx = byo_ctx(loan_spec(blind))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted
    ingest.ingest(ctx, SYSTEM, "loan", [event(i) for i in range(40)])
    reviewer = authenticate(ctx, auth.issue_token(ctx, create_person(ctx, "rita", Role.REVIEWER, ["loan"]),
                                                  label="test"))
    for _ in range(40):
        item = queue.claim_next(ctx, reviewer, "loan")
        verdict = "decline" if item.features["amount"] >= 60 else "approve"  # the truth the owner's v2 learned
        decisions.decide(ctx, reviewer, item.id, verdict, item.lease_token)

    sharp = logistic_graph(tmp_path / "v2.onnx", amount=0.2, age=0.0, bias=-11.5)  # the owner's better file
    better = byo_ctx(loan_spec(sharp))
    result = registration.register(better, better.registry.model("loan")).run
    print("\n" + result.decision)
    assert result.promoted and result.version == 2
    assert result.decision.startswith("promoted: +") and "on 40 fresh labels (20 positive), weighted: better with " \
        "90% confidence" in result.decision
    [fresh] = ingest.ingest(better, SYSTEM, "loan", [event(100)])
    assert fresh.model_version == 2

    worse = byo_ctx(loan_spec(blind, output=("p", 0)))  # v1's graph again, a new declaration: same file
    assert registration.register(worse, worse.registry.model("loan")).existing_version == 1
    flipped = logistic_graph(tmp_path / "v3.onnx", amount=-0.2, age=0.0, bias=11.5)
    kept = byo_ctx(loan_spec(flipped))
    run = registration.register(kept, kept.registry.model("loan")).run
    assert not run.promoted and run.decision.startswith("kept v2: candidate AUC 0.")
    assert {v.version: v.status for v in table(kept, ModelVersion)} == {1: "retired", 2: "champion", 3: "rejected"}

