"""`reviewqueue simulate`: a labelled file replayed through the real ingest, review, retraining gate and
serving path in a private database, measured each day on an untouched evaluation set beside a random-label
baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.fraud import synthetic_transactions
from reviewqueue.cli import app


@pytest.fixture
def sim_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.fraud"]')
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    data = tmp_path / "labelled.csv"
    synthetic_transactions(n=3000, seed=11).to_csv(data, index=False)
    return data


def test_simulate_replays_days_and_reports_served_and_baseline_auc(sim_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["simulate", "fraud", "--data", str(sim_env), "--days", "4",
                                      "--reviews-per-day", "60", "--retrain-every", "2", "--seed", "3",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "after 4 days and" in result.output and "day 2 gate: " in result.output
    report = json.loads(out.read_text())
    days = report["days"]
    assert [d["day"] for d in days] == [1, 2, 3, 4]
    assert report["stream_rows"] == 2100 and report["eval_rows"] == 900
    assert sum(d["events"] for d in days) == 2100
    labels = [d["labels"] for d in days]
    assert all(b > a for a, b in zip(labels, labels[1:], strict=False)), labels
    assert labels == [d["reviewed_total"] for d in days]
    assert all(d["reviewed"] <= 60 for d in days)
    for d in days:
        assert d["served_auc_low"] <= d["served_auc"] <= d["served_auc_high"]
        assert 0.5 < d["served_auc"] <= 1.0
        assert d["baseline_labels"] == d["labels"]
        assert d["baseline_auc"] is not None and 0.5 < d["baseline_auc"] <= 1.0
        assert d["caught"] + d["waiting"] + d["missed"] == d["positives"]
        assert d["auto_flagged"] + d["to_review"] + d["auto_passed"] == d["events"]
    gates = [d["gate"] for d in days if d["gate"]]
    assert len(gates) == 2 and all(isinstance(g, str) and g for g in gates)
    assert not Path(tmp_path / "untouched.db").exists()  # the configured database is never touched


def test_simulate_bad_input_is_one_line_exit_2(sim_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(sim_env.read_text().replace("velocity_1h", "velocity", 1))
    result = CliRunner().invoke(app, ["simulate", "fraud", "--data", str(bad), "--days", "2"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "missing column 'velocity_1h'" in lines[0], result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    unknown = CliRunner().invoke(app, ["simulate", "nope", "--data", str(sim_env)])
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1, unknown.output


def test_checkpoints_retrain_at_exact_label_counts_beside_random_and_top_of_queue(sim_env: Path,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["simulate", "fraud", "--data", str(sim_env), "--days", "3",
                                      "--reviews-per-day", "80", "--retrain-every", "0", "--checkpoints", "30,90",
                                      "--seed", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "30 labels gate: " in result.output and "90 labels gate: " in result.output
    report = json.loads(out.read_text())
    points = report["checkpoints"]
    assert [c["labels"] for c in points] == [30, 90] and report["missed_checkpoints"] == []
    assert all(d["gate"] is None for d in report["days"])  # --retrain-every 0: the label counts alone retrain
    for c in points:
        assert c["gate"] and (c["gate"].startswith(("promoted", "kept v")))
        assert 0 <= c["positives"] <= c["labels"]
        assert 0 <= c["random_positives"] <= c["labels"] and 0 <= c["top_positives"] <= c["labels"]
        # the labeller that only works the top of version 1's ranking sees at least as many positives as chance
        assert c["top_positives"] >= c["random_positives"]
        for key in ("served_auc", "random_auc", "top_auc"):
            assert c[key] is not None and 0.5 < c[key] <= 1.0, (key, c)
        assert c["served_auc_low"] <= c["served_auc"] <= c["served_auc_high"]
    # the reviewer paused at 30, retrained, and went on with the rest of day 1's reviews
    assert points[0]["day"] == 1 and report["days"][0]["reviewed"] > 30
    assert sum(d["reviewed"] for d in report["days"]) == report["days"][-1]["labels"]


def test_a_checkpoint_the_stream_cannot_reach_is_reported(sim_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["simulate", "fraud", "--data", str(sim_env), "--days", "2",
                                      "--reviews-per-day", "20", "--retrain-every", "0",
                                      "--checkpoints", "10,100000", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [c["labels"] for c in report["checkpoints"]] == [10]
    assert report["missed_checkpoints"] == [100000]
    assert "checkpoints never reached: 100000 labels" in result.output


def test_bad_checkpoints_are_one_line_exit_2(sim_env: Path) -> None:
    for value, words in (("64,lots", "--checkpoints: expected label counts"),
                         ("0,64", "checkpoints are label counts of at least 1")):
        result = CliRunner().invoke(app, ["simulate", "fraud", "--data", str(sim_env), "--checkpoints", value])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], result.output


def test_a_text_model_replays_from_zero_shot_reusing_the_exported_encoder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_self_harm: dict) -> None:
    """self_harm starts zero-shot; the replay copies the configured store's encoder (no second export)."""
    from tests.text.messages import EVAL_CONCERN, EVAL_ORDINARY

    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.self_harm"]')
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", trained_self_harm["artifact_dir"])
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    import reviewqueue.text.export as export

    monkeypatch.setattr(export, "export_encoder", lambda *a, **k: pytest.fail("the encoder was exported again"))
    data = tmp_path / "messages.csv"
    rows = [(f"{text} ({i})", "concern") for i in range(4) for text in EVAL_CONCERN]
    rows += [(f"{text} ({i})", "no concern") for i in range(8) for text in EVAL_ORDINARY]
    data.write_text("text,label\n" + "".join(f'"{t}",{v}\n' for t, v in rows), encoding="utf-8")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["simulate", "self_harm", "--data", str(data), "--days", "2",
                                      "--reviews-per-day", "60", "--retrain-every", "0", "--checkpoints", "40",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads(out.read_text())
    assert report["rows"] == 120 and report["initial_version"] == 1
    [point] = report["checkpoints"]
    assert point["labels"] == 40 and point["gate"]
    assert point["served_auc"] is not None and point["random_auc"] is not None and point["top_auc"] is not None
    assert all(d["baseline_auc"] is not None for d in report["days"])
    assert not (tmp_path / "untouched.db").exists()
