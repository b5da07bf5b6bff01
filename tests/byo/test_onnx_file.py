"""Bring your own ONNX file: registered through the decorator, validated against its graph (wrong input names or
types, an output that is not a probability: refused naming the field, nothing recorded), stored with its sha256,
served through the prediction API, and a changed file registered again judged by the promotion gate."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sqlalchemy import func, select

import reviewqueue as rq
from reviewqueue.db.tables import Decision, ModelVersion, OutboxAction, Prediction, ReviewItem, TrainingRun
from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError, Conflict, ValidationFailed
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



def sqrt_age_graph(path: Path) -> Path:
    """p = sqrt(age_days / 49) (+ 0·amount): within [0, 1] on the registration probe's ages (0 … 49), above 1 for
    older applications and NaN for a negative age — a graph that passes registration and misbehaves later."""
    nodes = [helper.make_node("Cast", ["age_days"], ["age_f"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["age_f", "scale"], ["ratio"]),
             helper.make_node("Sqrt", ["ratio"], ["root"]),
             helper.make_node("Mul", ["amount", "zero"], ["unused"]),
             helper.make_node("Add", ["root", "unused"], ["p"])]
    graph = helper.make_graph(
        nodes, "sqrt_age",
        [helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("age_days", TensorProto.INT64, ["N", 1])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([49.0], dtype=np.float32), "scale"),
         numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def application(external_id: str, age_days: int) -> dict:
    return {"external_id": external_id, "features": {"amount": 50.0, "age_days": age_days}, "context": {}}


def test_a_score_outside_0_1_or_nan_is_refused_at_serving_naming_the_event(byo_ctx, tmp_path):
    ctx = byo_ctx(loan_spec(sqrt_age_graph(tmp_path / "sqrt.onnx")))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted  # the probe saw [0, 1]
    [ok] = ingest.ingest(ctx, SYSTEM, "loan", [application("a-0", 49)])
    assert ok.score == pytest.approx(1.0)
    before = [count(ctx, table) for table in (Prediction, Decision, OutboxAction, ReviewItem)]
    for age, shown in ((196, "2"), (-49, "nan")):
        with pytest.raises(ValidationFailed) as refused:
            ingest.ingest(ctx, SYSTEM, "loan", [application("a-1", 9), application("a-2", age)])
        assert refused.value.field == "events[1].features"
        assert f"model 'loan' version 1 gave {shown} for this event, not a probability in [0, 1] (1 of 2 " \
               "events in this batch); nothing was stored" in refused.value.message
        with pytest.raises(ValidationFailed, match=r"events\[0\].features: .* gave"):  # the single-event path
            ingest.ingest(ctx, SYSTEM, "loan", [application("a-3", age)])
    assert [count(ctx, table) for table in (Prediction, Decision, OutboxAction, ReviewItem)] == before


def test_an_int_beyond_the_graphs_int32_input_is_a_422_naming_the_feature(byo_ctx, tmp_path):
    path = logistic_graph(tmp_path / "i32.onnx", amount=0.08, age=0.0, bias=-4.8, age_type=TensorProto.INT32)
    ctx = byo_ctx(loan_spec(path))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted
    with pytest.raises(ValidationFailed) as refused:
        ingest.ingest(ctx, SYSTEM, "loan", [application("b-1", 7), application("b-2", 3_000_000_000)])
    assert refused.value.field == "events[1].features.age_days"
    assert "3000000000 is outside the range of this model's graph input 'age_days' (tensor(int32): " \
           "-2147483648 … 2147483647); nothing was stored" in refused.value.message
    assert count(ctx, Prediction) == 0
    [served] = ingest.ingest(ctx, SYSTEM, "loan", [application("b-3", 2_147_483_647)])
    assert served.model_version == 1


def test_a_class_label_output_is_refused_as_not_a_probability(byo_ctx, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    fitted = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    path = tmp_path / "labels.onnx"
    path.write_bytes(to_onnx(fitted, x[:1], options={"zipmap": False}).SerializeToString())
    declared = {"inputs": {"X": ["amount", "age_days"]}, "features": None}
    for output, message in (("label", r"output 'label' is tensor\(int64\), a class label, not a probability; "
                                      r"declare the graph's float probabilities output \(outputs: label "
                                      r"tensor\(int64\), probabilities tensor\(float\)\)"),
                            (("probabilities", 5), r"output 'probabilities' has 2 columns \(column 5 does not "
                                                   r"exist; declare the positive class's column")):
        ctx = byo_ctx(loan_spec(path, output=output, **{k: v for k, v in declared.items() if v is not None}))
        with pytest.raises(ConfigurationError, match=message) as refused:
            registration.register(ctx, ctx.registry.model("loan"))
        assert refused.value.field == "output"
        assert count(ctx, ModelVersion) == 0 and count(ctx, TrainingRun) == 0
    ctx = byo_ctx(loan_spec(path, inputs={"X": ["amount", "age_days"]}, output=("probabilities", 1)))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted


def _two_column_classifier(path: Path) -> Path:
    """skl2onnx's LogisticRegression over [amount, age_days]: outputs label (int64) and probabilities [N, 2]; the
    truth is amount ≥ 60, as the loan events' tests label them."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = np.array([[10.0 + (i % 20) * 5, (i * 37) % 701] for i in range(200)], dtype=np.float32)
    fitted = LogisticRegression(max_iter=1000).fit(x / 100, (x[:, 0] >= 60).astype(int))
    fitted.coef_ = fitted.coef_ / 100  # the same model on unscaled inputs
    path.write_bytes(to_onnx(fitted, x[:1], options={"zipmap": False}).SerializeToString())
    return path


def test_a_version_serves_as_registered_and_a_new_declaration_is_a_new_version(byo_ctx, tmp_path):
    path = _two_column_classifier(tmp_path / "lr.onnx")
    matrix = {"X": ["amount", "age_days"]}
    ctx = byo_ctx(loan_spec(path, inputs=matrix, output=("probabilities", 1)))
    assert registration.register(ctx, ctx.registry.model("loan")).run.version == 1
    [v1] = table(ctx, ModelVersion)
    assert v1.lineage["declaration"] == {"inputs": matrix, "output": "probabilities", "positive_index": 1}
    [high] = ingest.ingest(ctx, SYSTEM, "loan", [event(12)])  # amount 70: P(decline) high in column 1
    assert high.score > 0.5

    # the decorator now reads column 0; the API restarts with it, before anyone registers the change
    edited = byo_ctx(loan_spec(path, inputs=matrix, output=("probabilities", 0)))
    [still] = ingest.ingest(edited, SYSTEM, "loan", [{**event(12), "external_id": "again-12"}])
    assert still.model_version == 1 and still.score == pytest.approx(high.score, abs=1e-6), \
        "version 1 serves as it was registered"
    second = registration.register(edited, edited.registry.model("loan"))
    assert second.run is not None and second.run.version == 2, second.summary  # not "already holds this file"
    [v2] = [v for v in table(edited, ModelVersion) if v.version == 2]
    assert v2.sha256 == v1.sha256 and v2.lineage["declaration"]["positive_index"] == 0
    assert second.run.decision.startswith("kept v1: not enough evidence"), second.run.decision
    third = registration.register(edited, edited.registry.model("loan"))  # v2 never served: judged again
    assert third.run is not None and third.run.version == 3


def test_a_dataset_too_small_to_judge_on_is_refused_naming_it_before_a_run(byo_ctx, tmp_path):
    import pandas as pd

    path = logistic_graph(tmp_path / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)
    tiny = pd.DataFrame({"amount": [10.0, 20.0, 80.0, 90.0], "age_days": [1, 2, 3, 4], "label": [0, 0, 1, 1]})
    ctx = byo_ctx(loan_spec(path, dataset=lambda: tiny))
    with pytest.raises(ConfigurationError) as refused:
        registration.register(ctx, ctx.registry.model("loan"))
    assert refused.value.field == "dataset"
    assert refused.value.message == (
        "model 'loan': dataset has 4 rows (labels: 2 × 0, 2 × 1); its held-out split (20%) needs both labels on "
        "each side: give it at least 6 rows with at least 2 of each label")
    assert count(ctx, TrainingRun) == 0 and count(ctx, ModelVersion) == 0, "nothing recorded"


def test_a_corrupted_serving_variant_falls_back_to_the_versions_file(byo_ctx, tmp_path, caplog):
    from reviewqueue.db import versions as version_queries
    from reviewqueue.serving.providers import ServingConfig

    path = logistic_graph(tmp_path / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)
    ctx = byo_ctx(loan_spec(path))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted
    [version] = table(ctx, ModelVersion)
    variant = Path(version.artifact_path).with_name("model.int8.onnx")
    variant.write_bytes(Path(version.artifact_path).read_bytes())  # stands in for bench-model's int8 copy
    config = ServingConfig("cpu-int8-1t", variant.name, sha256_file(variant), ("CPUExecutionProvider",), 1)
    with ctx.engine.begin() as conn:
        version_queries.set_serving_config(conn, version.id, config.to_json())
    variant.write_bytes(b"garbage")  # this host's copy went bad after the config was applied
    with caplog.at_level("WARNING", logger="reviewqueue.serving"):
        [served] = ingest.ingest(byo_ctx(loan_spec(path)), SYSTEM, "loan", [event(12)])
    assert served.model_version == 1 and served.score == pytest.approx(1 / (1 + np.exp(-(0.08 * 70 - 4.8))), abs=1e-5)
    [warning] = [r for r in caplog.records if getattr(r, "action", None) == "serving_variant_corrupted"]
    assert warning.file == str(variant) and warning.recorded_sha256 == config.sha256
    variant.unlink()
    caplog.clear()
    with caplog.at_level("WARNING", logger="reviewqueue.serving"):
        [again] = ingest.ingest(byo_ctx(loan_spec(path)), SYSTEM, "loan", [event(13)])
    assert again.model_version == 1
    assert [r.action for r in caplog.records if hasattr(r, "action")] == ["serving_variant_missing"]


def test_bench_model_measures_a_brought_in_file_and_says_why_it_has_no_framework_row(byo_ctx, tmp_path):
    from reviewqueue.domain.permissions import Actor
    from reviewqueue.services import model_bench

    ctx = byo_ctx(loan_spec(logistic_graph(tmp_path / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)))
    assert registration.register(ctx, ctx.registry.model("loan")).run.promoted
    ingest.ingest(ctx, SYSTEM, "loan", [event(i) for i in range(32)])  # its own inputs: the sample
    profile = model_bench.bench_model(ctx, Actor(0, "cli:test", Role.ADMIN, ()), "loan", sample=32,
                                      batch_sizes=(1, 8), cores=1, min_seconds=0.01)
    assert profile["sample"] == {"n": 32, "source": "32 most recent predictions"}
    assert [v["name"] for v in profile["variants"]] == ["cpu-fp32-1t", "cpu-int8-1t"]  # no framework row
    [framework] = [s for s in profile["skipped"] if s["names"] == ["framework reference"]]
    assert framework["reason"].startswith("a brought-in file: the framework it was trained in is not part of it")
