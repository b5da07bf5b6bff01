"""bench-model and serving configs (issue 12, points 1-2): providers and threads reach every session through one
builder, a measured profile is stored on the version, an applied config is what serving loads, and a configuration
that changes routing decisions beyond the declared tolerance cannot be applied."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import update
from typer.testing import CliRunner

from reviewqueue.cli import app
from reviewqueue.client import Client
from reviewqueue.db import versions as version_queries
from reviewqueue.db.tables import ModelVersion
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError, Conflict, NotFound
from reviewqueue.kinds import kind_for
from reviewqueue.kinds.tabular import export_onnx
from reviewqueue.services import model_bench
from reviewqueue.services.context import bootstrap
from reviewqueue.serving.providers import CPU, OrtRuntime, available_providers
from reviewqueue.serving.scorers import ScorerCache
from reviewqueue.serving.sessions import sha256_file
from reviewqueue.settings import Settings

ADMIN = Actor(0, "cli:test", Role.ADMIN, ())
QUICK = {"sample": 24, "batch_sizes": (1, 8), "cores": 1, "frameworks": False,  # two configs: fp32 and int8
         "min_seconds": 0.01}


def missing_provider() -> str:
    """A provider this onnxruntime build lacks (the CPU wheel lacks them all; a GPU host lacks some)."""
    return next(p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                            "MIGraphXExecutionProvider", "NoSuchExecutionProvider") if p not in available_providers())


def champion(ctx):
    with ctx.engine.connect() as conn:
        return version_queries.champion(conn, "fraud")


def fraud_graph(spec, estimator) -> bytes:
    """``estimator`` fitted on fraud's first 600 rows as training encodes them, exported as training exports."""
    data = spec.dataset().head(600)
    encoded = np.asarray(spec.features.encode(data[spec.features.names].to_dict("records")), dtype=np.float64)
    return export_onnx(estimator.fit(encoded, data["label"].to_numpy()), encoded.shape[1])


def serve_graph(ctx, graph: bytes) -> Path:
    """fraud v1's stored graph replaced by ``graph`` (its file and recorded sha256), as if training had made it."""
    champ = champion(ctx)
    artifact = Path(champ.artifact_path)
    artifact.write_bytes(graph)
    table = ModelVersion.__table__  # type: ignore[attr-defined]
    with ctx.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == champ.id).values(sha256=sha256_file(artifact)))
    return artifact


def loaded(caplog, version_id_path: Path) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "action", None) == "session_loaded"
            and Path(r.path).parent == version_id_path.parent]


def test_a_configured_missing_provider_stops_the_start_in_one_line(settings):
    provider = missing_provider()
    with pytest.raises(ConfigurationError) as caught:
        bootstrap(settings.model_copy(update={"ort_providers": [provider, CPU]}))
    message = caught.value.message
    assert provider in message and "reviewqueue[gpu]" in message and "\n" not in message
    assert "REVIEWQUEUE_ORT_PROVIDERS" in message


def test_settings_read_providers_as_a_comma_or_json_list_and_threads_under_both_names(monkeypatch):
    monkeypatch.setenv("REVIEWQUEUE_ORT_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    monkeypatch.setenv("REVIEWQUEUE_ORT_THREADS", "3")  # the older name still configures the same setting
    assert (Settings().ort_providers, Settings().ort_intra_op_threads) == ([
        "CUDAExecutionProvider", "CPUExecutionProvider"], 3)
    monkeypatch.setenv("REVIEWQUEUE_ORT_PROVIDERS", '["CPUExecutionProvider"]')
    monkeypatch.setenv("REVIEWQUEUE_ORT_INTRA_OP_THREADS", "2")
    assert (Settings().ort_providers, Settings().ort_intra_op_threads) == (["CPUExecutionProvider"], 2)
    monkeypatch.setenv("REVIEWQUEUE_ORT_PROVIDERS", "[CPUExecutionProvider")
    with pytest.raises(ValueError, match="ort_providers"):
        Settings()


def test_serving_and_training_evaluation_open_sessions_through_the_same_runtime(ctx):
    """The configured threads reach the serving session's options; a provider the build lacks fails serving and
    training-time evaluation alike (both go through OrtRuntime), naming it."""
    spec, champ = ctx.registry.model("fraud"), champion(ctx)
    ctx.scorers = ScorerCache(runtime=OrtRuntime((CPU,), 2))
    scorer = ctx.scorers.get(spec, champ.id, champ.artifact_path, champ.sha256, config={})
    assert scorer.session.get_providers() == [CPU]
    assert scorer.session.get_session_options().intra_op_num_threads == 2
    rows = spec.dataset().head(5)
    served = scorer.score(rows[spec.features.names].to_dict("records"))
    evaluated = kind_for(spec).score_version(spec, champ.artifact_path, rows, ctx.scorers.runtime)
    assert np.allclose(served, evaluated)
    broken = OrtRuntime((missing_provider(),), 1)
    with pytest.raises(ConfigurationError, match=missing_provider()):
        kind_for(spec).score_version(spec, champ.artifact_path, rows, broken)
    with pytest.raises(ConfigurationError, match=missing_provider()):
        ScorerCache(runtime=broken).get(spec, champ.id, champ.artifact_path, champ.sha256)


def test_profile_is_stored_and_the_applied_config_is_what_serving_loads(ctx, caplog):
    spec = ctx.registry.model("fraud")
    # a graph with weights to quantise (fraud's trees have none: test_model_bench_skips_and_refusals.py)
    mlp = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=1000, random_state=0))
    artifact = serve_graph(ctx, fraud_graph(spec, mlp))
    champ = champion(ctx)
    ctx.scorers.get(spec, champ.id, champ.artifact_path, champ.sha256, config={})  # serving fp32 before
    # any tolerance: int8 may move a borderline score across a threshold, and this test is about what serves
    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **QUICK, max_route_changes=QUICK["sample"])
    assert [v["name"] for v in profile["variants"]] == ["cpu-fp32-1t", "cpu-int8-1t"]
    assert sha256_file(artifact) == champ.sha256, "the stored graph is never written over"
    assert (artifact.parent / "model.int8.onnx").is_file()
    stored, config = model_bench.serving_profile(ctx, "fraud", 1)
    assert stored == profile and config is None
    assert profile["sample"] == {"n": 24, "source": "24 rows of the base dataset"}
    assert all(v["parity"]["n"] == 24 and v["throughput"].keys() == {"1", "8"} for v in profile["variants"])

    applied = model_bench.apply_config(ctx, ADMIN, "fraud", 1, "cpu-int8-1t")
    assert (applied["model_file"], applied["providers"], applied["intra_op_threads"]) == (
        "model.int8.onnx", [CPU], 1)
    caplog.set_level(logging.INFO)
    caplog.clear()  # only the load below: bench-model's own loads may be captured too (the level is process-wide)
    champ = champion(ctx)  # what every request reads: the config travels with the champion
    scorer = ctx.scorers.get(spec, champ.id, champ.artifact_path, champ.sha256, config=champ.serving_config or {})
    [record] = loaded(caplog, artifact)
    assert Path(record.path).name == "model.int8.onnx" and record.providers == [CPU]
    assert scorer.session.get_session_options().intra_op_num_threads == 1
    # Settings override the stored config: threads configured here win over the measured ones
    configured = ScorerCache(runtime=OrtRuntime((), 2))
    again = configured.get(spec, champ.id, champ.artifact_path, champ.sha256, config=champ.serving_config)
    assert again.session.get_session_options().intra_op_num_threads == 2


def test_a_variant_that_changes_routing_decisions_cannot_be_applied(ctx):
    """A deliberately different graph sits where the int8 copy goes (never written over, so it is measured):
    parity shows the changed decisions and applying it is refused; the fastest passing one is applied instead."""
    spec, champ = ctx.registry.model("fraud"), champion(ctx)
    data = spec.dataset().head(600)
    encoded = np.asarray(spec.features.encode(data[spec.features.names].to_dict("records")), dtype=np.float64)
    shuffled = np.random.default_rng(0).permutation(data["label"].to_numpy())
    perturbed = GradientBoostingClassifier(n_estimators=5, max_depth=2, learning_rate=1.0, random_state=0)
    perturbed.fit(encoded, np.where(encoded[:, 0] > np.median(encoded[:, 0]), 1, shuffled))
    (Path(champ.artifact_path).parent / "model.int8.onnx").write_bytes(export_onnx(perturbed, encoded.shape[1]))

    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **{**QUICK, "sample": 64})
    int8 = next(v for v in profile["variants"] if v["name"] == "cpu-int8-1t")
    assert int8["parity"]["changed_routes"] > 0 and not int8["passes"]
    with pytest.raises(Conflict, match="cpu-int8-1t fails parity: it changes"):
        model_bench.apply_config(ctx, ADMIN, "fraud", 1, "cpu-int8-1t")
    assert model_bench.serving_profile(ctx, "fraud", 1)[1] is None, "nothing applied"
    assert model_bench.apply_config(ctx, ADMIN, "fraud", 1)["name"] == "cpu-fp32-1t"
    # a tolerance wide enough lets the same variant through, as declared
    loose = model_bench.bench_model(ctx, ADMIN, "fraud", **{**QUICK, "sample": 64}, max_route_changes=64)
    assert all(v["passes"] for v in loose["variants"])


def test_profile_over_http_and_the_cli_table(ctx, people, live_api, monkeypatch):
    with Client(live_api, people.data_scientist) as client:
        empty = client.serving_profile("fraud", 1)
        assert (empty.profile, empty.config) == (None, None)
        with pytest.raises(NotFound):
            client.serving_profile("fraud", 9)
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    result = CliRunner().invoke(app, ["bench-model", "fraud", "--sample", "16", "--batch-sizes", "1,8",
                                      "--no-framework", "--apply"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fraud v1: 16 inputs (16 rows of the base dataset)" in result.output
    assert "cpu-fp32-1t" in result.output and "cpu-int8-1t" in result.output and "rows/s @8" in result.output
    assert "applied: fraud v1 serves with" in result.output
    with Client(live_api, people.data_scientist) as client:
        shown = client.serving_profile("fraud", 1)
    assert shown.profile is not None and shown.config is not None
    assert shown.config["name"] == shown.profile["fastest_passing"]
    refused = CliRunner().invoke(app, ["bench-model", "fraud", "--sample", "0"])
    assert refused.exit_code == 2 and "--sample" in refused.output
