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


def flipped_truth():
    import pandas as pd
    amounts = [10.0 + 5 * (i % 20) for i in range(40)]
    return pd.DataFrame({{"amount": amounts, "age_days": list(range(40)), "label": [int(a < 60) for a in amounts]}})


@rq.model(name="{prefix}_flipped", onnx="loan.onnx", inputs={{"amount": float, "age_days": int}}, output="p",
          verdicts=VERDICTS, positive_verdict="decline", negative_verdict="approve", dataset=flipped_truth)
def flipped(df):
    """The same file, judged on a dataset whose labels say the opposite."""
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


def test_a_refused_first_version_says_how_to_serve_and_is_judged_again(cli: str) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["models", "register", f"{cli}_flipped"])
    assert refused.exit_code == 1, refused.output
    text = " ".join(refused.output.split())
    assert f"{cli}_flipped: run 1: version 1 not promoted" in text and "below the sanity floor" in text
    assert f"{cli}_flipped has no serving version: fix the file or its dataset and register again, or serve " \
           f"version 1 anyway with `reviewqueue models promote {cli}_flipped 1 --reason \"…\"`" in text
    again = runner.invoke(app, ["models", "register", f"{cli}_flipped"])  # rejected: it holds nothing
    assert again.exit_code == 1 and "version 2 not promoted" in again.output, again.output
    promoted = runner.invoke(app, ["models", "promote", f"{cli}_flipped", "2", "--reason", "the owner vouches"])
    assert promoted.exit_code == 0, promoted.output
    held = runner.invoke(app, ["models", "register", f"{cli}_flipped"])
    assert held.exit_code == 0 and "version 2 already holds this file (sha256" in " ".join(held.output.split())
