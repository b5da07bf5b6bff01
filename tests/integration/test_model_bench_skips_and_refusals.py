"""bench-model on graphs it used to crash on or mis-measure, and its command line: an int8 copy that cannot be made,
read or loaded, or that quantises nothing, is skipped with its reason and every other configuration measured; a
refused --apply stores nothing; the CLI checks before it measures, and prints a full table without a terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from reviewqueue.cli import app
from reviewqueue.db import versions as version_queries
from reviewqueue.errors import Conflict
from reviewqueue.kinds.tabular import export_onnx
from reviewqueue.services import model_bench
from reviewqueue.serving.providers import CPU, ServingConfig
from reviewqueue.serving.sessions import sha256_file
from reviewqueue.text import graph
from tests.integration.test_model_bench import ADMIN, QUICK, champion, fraud_graph, serve_graph

NOTHING_TO_QUANTISE = "nothing to quantise in this graph"


@pytest.fixture
def cli(ctx, monkeypatch):
    """``cli(*args)``: `reviewqueue …` on this test's database, output not a terminal and 80 columns wide."""
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    return lambda *args: CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})


def int8_path(ctx) -> Path:
    return Path(champion(ctx).artifact_path).parent / model_bench.INT8_FILE


def measured(profile) -> list[str]:
    return [v["name"] for v in profile["variants"]]


def test_a_logistic_regression_exported_by_skl2onnx_is_benched(ctx):
    """skl2onnx writes the default opset twice for a LogisticRegression; onnxruntime's quantiser refused it with
    "Failed to find proper ai.onnx domain" and bench-model stopped with its traceback."""
    graph_bytes = fraud_graph(ctx.registry.model("fraud"), LogisticRegression(max_iter=1000))
    domains = [entry.domain for entry in onnx.load_from_string(graph_bytes).opset_import]
    assert domains.count("") == 2, "the graph this test is about"
    artifact = serve_graph(ctx, graph_bytes)
    stored = sha256_file(artifact)

    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **{**QUICK, "cores": 2})

    assert measured(profile) == ["cpu-fp32-1t", "cpu-fp32-2t"]
    [skipped] = profile["skipped"]  # LinearClassifier has no weights the quantiser rewrites: quantised, then skipped
    assert skipped["names"] == ["cpu-int8-1t", "cpu-int8-2t"] and NOTHING_TO_QUANTISE in skipped["reason"]
    assert sha256_file(artifact) == stored, "the stored graph is never rewritten"
    assert not int8_path(ctx).exists()


def test_a_quantiser_failure_skips_int8_and_measures_every_other_configuration(ctx, monkeypatch):
    def fails(in_path: Path, out_path: Path) -> Path:
        raise ValueError("Failed to find proper ai.onnx domain\nsecond line")

    monkeypatch.setattr(graph, "quantize_int8", fails)
    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **{**QUICK, "cores": 2})
    assert measured(profile) == ["cpu-fp32-1t", "cpu-fp32-2t"]
    assert profile["skipped"] == [{"names": ["cpu-int8-1t", "cpu-int8-2t"],
                                   "reason": "quantisation failed: ValueError: Failed to find proper ai.onnx domain"}]
    assert model_bench.serving_profile(ctx, "fraud", 1)[0] == profile
    assert not int8_path(ctx).exists()


def test_a_tree_ensemble_has_nothing_to_quantise(ctx):
    """fraud's trees: the int8 copy scored exactly as fp32 and could win --apply on timing noise alone."""
    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **QUICK)
    assert measured(profile) == ["cpu-fp32-1t"]
    assert profile["skipped"][0]["names"] == ["cpu-int8-1t"]
    assert profile["skipped"][0]["reason"].startswith(NOTHING_TO_QUANTISE)
    assert not int8_path(ctx).exists(), "nothing left beside the version: it would be measured next time"
    assert model_bench.apply_config(ctx, ADMIN, "fraud", 1)["name"] == "cpu-fp32-1t"
    with pytest.raises(Conflict, match=f"cpu-int8-1t was not measured: {NOTHING_TO_QUANTISE}"):
        model_bench.apply_config(ctx, ADMIN, "fraud", 1, "cpu-int8-1t")


def test_an_existing_copy_of_the_fp32_graph_is_not_measured_as_int8(ctx):
    """What an earlier bench-model left beside a tree model: kept (never written over), skipped, said why."""
    copy = int8_path(ctx)
    copy.write_bytes(Path(champion(ctx).artifact_path).read_bytes())
    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **QUICK)
    assert measured(profile) == ["cpu-fp32-1t"]
    reason = profile["skipped"][0]["reason"]
    assert reason.startswith(NOTHING_TO_QUANTISE) and str(copy) in reason and "delete it" in reason
    assert copy.is_file()


@pytest.mark.parametrize("content", [b"garbage", b"\x08\x07"], ids=["not-protobuf", "an-empty-graph"])
def test_a_corrupted_int8_file_is_skipped_naming_it(ctx, content):
    copy = int8_path(ctx)
    copy.write_bytes(content)
    profile = model_bench.bench_model(ctx, ADMIN, "fraud", **QUICK)
    assert measured(profile) == ["cpu-fp32-1t"]
    [skipped] = profile["skipped"]
    assert skipped["names"] == ["cpu-int8-1t"]
    assert skipped["reason"].startswith(f"{copy} cannot be loaded (")
    assert skipped["reason"].endswith(": delete it to re-create it") and "\n" not in skipped["reason"]
    assert copy.read_bytes() == content, "never written over"


def test_a_corrupted_int8_file_that_an_applied_config_recorded_says_so(ctx, cli):
    champ = champion(ctx)
    recorded = "ab" * 32
    config = ServingConfig("cpu-int8-1t", model_bench.INT8_FILE, recorded, (CPU,), 1).to_json()
    with ctx.engine.begin() as conn:
        version_queries.set_serving_config(conn, champ.id, config)
    int8_path(ctx).write_bytes(b"garbage")

    result = cli("bench-model", "fraud", "--sample", "16", "--batch-sizes", "1", "--no-framework")

    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert line.startswith(f"skipped cpu-int8-1t, cpu-int8-2t: {int8_path(ctx)} cannot be loaded (DecodeError")
    assert f"the applied serving config cpu-int8-1t recorded (sha256 {recorded[:12]}…" in line
    assert line.endswith("delete it to re-create it")


def place_perturbed_int8(ctx) -> None:
    """A deliberately different graph where the int8 copy goes (measured as it is): it changes routing decisions."""
    spec = ctx.registry.model("fraud")
    data = spec.dataset().head(600)
    encoded = np.asarray(spec.features.encode(data[spec.features.names].to_dict("records")), dtype=np.float64)
    shuffled = np.random.default_rng(0).permutation(data["label"].to_numpy())
    perturbed = GradientBoostingClassifier(n_estimators=5, max_depth=2, learning_rate=1.0, random_state=0)
    perturbed.fit(encoded, np.where(encoded[:, 0] > np.median(encoded[:, 0]), 1, shuffled))
    int8_path(ctx).write_bytes(export_onnx(perturbed, encoded.shape[1]))


def test_a_refused_apply_stores_nothing(ctx, cli):
    place_perturbed_int8(ctx)
    before = model_bench.bench_model(ctx, ADMIN, "fraud", **{**QUICK, "sample": 64})
    assert not next(v for v in before["variants"] if v["name"] == "cpu-int8-1t")["passes"]

    result = cli("bench-model", "fraud", "--sample", "64", "--batch-sizes", "1", "--no-framework", "--apply",
                 "--config", "cpu-int8-1t")

    assert result.exit_code == 1, result.output
    assert "error: cpu-int8-1t fails parity: it changes" in result.output
    assert model_bench.serving_profile(ctx, "fraud", 1) == (before, None), "neither a profile nor a config stored"


def test_an_applied_config_is_stored_with_the_profile_it_was_chosen_from(ctx, cli):
    result = cli("bench-model", "fraud", "--sample", "16", "--batch-sizes", "1", "--no-framework", "--apply")
    assert result.exit_code == 0, result.output
    profile, config = model_bench.serving_profile(ctx, "fraud", 1)
    assert profile is not None and config is not None and config["name"] == profile["fastest_passing"]


def test_an_unknown_config_is_refused_before_measuring(ctx, cli):
    result = cli("bench-model", "fraud", "--apply", "--config", "nosuch")
    assert result.exit_code == 2, result.output
    offered = ", ".join(model_bench.config_names())
    assert result.output == f"error: config: 'nosuch' is not a configuration this host offers ({offered})\n"
    assert "cpu-fp32-1t" in offered and "cpu-int8-1t" in offered
    assert model_bench.serving_profile(ctx, "fraud", 1) == (None, None)
    assert not int8_path(ctx).exists(), "nothing prepared either"


def test_an_unknown_model_is_refused_as_models_register_refuses_it(cli):
    """The same line, registered models and where they come from included, and no progress line before it."""
    result = cli("bench-model", "nosuch")
    assert result.exit_code == 2, result.output
    assert result.output == cli("models", "register", "nosuch").output
    assert result.output.startswith("error: unknown model 'nosuch'; registered: fraud (from REVIEWQUEUE_MODEL_MODULES")
    assert len(result.output.splitlines()) == 1
    missing = cli("bench-model", "fraud", "--version", "9")
    assert (missing.exit_code, missing.output) == (2, "error: model 'fraud' has no version 9\n")


def test_the_table_is_whole_without_a_terminal(ctx, cli):
    """80 columns, no terminal (a CI log): every cell used to print as `0.…`."""
    result = cli("bench-model", "fraud", "--sample", "16", "--batch-sizes", "1,8,64", "--no-framework")
    assert result.exit_code == 0, result.output
    profile, _ = model_bench.serving_profile(ctx, "fraud", 1)
    assert profile is not None and "…" not in result.output
    header = next(line for line in result.output.splitlines() if "config" in line)
    for title in ("threads", "p50 ms", "p99 ms", "rows/s @64", "max |Δp|", "Spearman", "routes changed", "parity"):
        assert title in header
    for variant in profile["variants"]:
        row = next(line for line in result.output.splitlines() if f" {variant['name']} " in line)
        assert f"{variant['latency_p50_ms']:.3f}" in row and f"{variant['latency_p99_ms']:.3f}" in row
        assert f"{variant['throughput']['8']:,.0f}" in row and f"0 / {profile['sample']['n']}" in row
