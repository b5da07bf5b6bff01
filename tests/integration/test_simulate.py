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


def test_simulate_refuses_a_text_model_in_one_line(sim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.fraud", "models.self_harm"]')
    result = CliRunner().invoke(app, ["simulate", "self_harm", "--data", str(sim_env)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: model 'self_harm' is a text model: the random-label baseline of `simulate` supports tabular "
        "models only"]
