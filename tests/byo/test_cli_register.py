"""`reviewqueue models register NAME` for a bring-your-own model, as an operator runs it: a model module beside
its ONNX file (a relative path), one line per outcome — registered, already held, refused naming the field —
and `reviewqueue retrain` saying how a new file gets in instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reviewqueue.cli import app
from tests.byo.conftest import logistic_graph

MODULE = '''
import reviewqueue as rq

VERDICTS = {{"decline": [], "approve": []}}


@rq.model(name="{prefix}_loan", onnx="loan.onnx", inputs={{"amount": float, "age_days": int}}, output="p",
          verdicts=VERDICTS, positive_verdict="decline", negative_verdict="approve")
def loan(df):
    """An ONNX file the bank trained elsewhere."""


@rq.model(name="{prefix}_typo", onnx="loan.onnx", inputs={{"amount": float, "age": int}}, output="p",
          verdicts=VERDICTS, positive_verdict="decline", negative_verdict="approve")
def typo(df):
    """The same file declared with a wrong input name."""
'''


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    prefix = f"byo_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "models"
    folder.mkdir()
    logistic_graph(folder / "loan.onnx", amount=0.08, age=0.0, bias=-4.8)
    (folder / f"{prefix}.py").write_text(MODULE.format(prefix=prefix))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", prefix)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    return prefix


def test_register_an_onnx_file_from_the_cli(cli: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["models", "register", f"{cli}_loan"])
    assert first.exit_code == 0, first.output
    assert f"{cli}_loan: run 1: version 1 promoted" in first.output
    again = runner.invoke(app, ["models", "register", f"{cli}_loan"])
    assert again.exit_code == 0 and "version 1 already holds this file" in again.output
    typo = runner.invoke(app, ["models", "register", f"{cli}_typo"])
    assert typo.exit_code == 1 and "Traceback" not in typo.output
    assert "inputs ['amount', 'age'] do not match the graph's inputs" in typo.output
    retrain = runner.invoke(app, ["retrain", f"{cli}_loan"])
    assert retrain.exit_code == 1
    assert "cannot retrain it from labels" in " ".join(retrain.output.split())
