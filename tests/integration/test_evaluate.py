"""`reviewqueue evaluate NAME --data labelled.csv`: every stored version of a model on a labelled file, before
anything is promoted (issue 9 point 9). In-process through the real CLI, on the test database with the real
trained fraud v1 and a real worse v2 (a logistic regression on a small sample), scored with ONNX Runtime."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import insert
from typer.testing import CliRunner

from models.fraud import synthetic_transactions
from reviewqueue.cli import app
from reviewqueue.db.tables import ModelVersion
from reviewqueue.evaluation import label_weights, weighted_auc
from reviewqueue.kinds.tabular import encode_frame, export_onnx, score_onnx
from reviewqueue.services import evaluate as evaluation


@pytest.fixture
def cli_env(ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.fraud"]')


@pytest.fixture
def weaker_v2(ctx, trained_fraud) -> str:
    """Version 2 (rejected): a logistic regression fitted on 400 rows, exported to ONNX; its artifact path."""
    spec = ctx.registry.model("fraud")
    frame = encode_frame(spec, synthetic_transactions(n=400, seed=3))
    estimator = LogisticRegression(max_iter=2000).fit(frame[spec.features.names].to_numpy(float), frame["label"])
    target = Path(ctx.settings.artifact_dir) / "fraud" / "2" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(export_onnx(estimator, len(spec.features.names)))
    values = {k: v for k, v in trained_fraud.items() if k != "id"}
    values.update(version=2, status="rejected", promoted_at=None, artifact_path=str(target),
                  sha256=hashlib.sha256(target.read_bytes()).hexdigest())
    with ctx.engine.begin() as conn:
        conn.execute(insert(ModelVersion.__table__).values(**values))  # type: ignore[attr-defined]
    return str(target)


def labelled_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "labelled.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["evaluate", *args])


def printed_auc(output: str, version: int) -> tuple[int, int, float]:
    """n, positives and ROC AUC from the version's row of the table."""
    match = re.search(rf"v{version}( \*)?\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d\.\d{{4}})", output)
    assert match, output
    return int(match.group(2)), int(match.group(3)), float(match.group(4))


def onnx_scores(ctx, artifact_path: str, frame: pd.DataFrame) -> np.ndarray:
    spec = ctx.registry.model("fraud")
    return score_onnx(artifact_path, spec.features.encode(frame[spec.features.names].to_dict("records")))


def test_evaluate_prints_each_version_and_the_comparison_with_the_champion(ctx, cli_env, weaker_v2, tmp_path,
                                                                           trained_fraud) -> None:
    frame = synthetic_transactions(n=2000, seed=11)
    path = labelled_csv(tmp_path, frame)
    positives = int(frame["label"].sum())

    one = run("fraud", "--data", str(path), "--versions", "1")
    assert one.exit_code == 0, one.output + repr(one.exception)
    n, pos, auc = printed_auc(one.output, 1)
    v1_path = f"{ctx.settings.artifact_dir}/fraud/1/model.onnx"
    expected = weighted_auc(frame["label"].to_numpy(), onnx_scores(ctx, v1_path, frame))
    assert (n, pos) == (2000, positives)
    assert expected is not None and abs(auc - expected) < 1e-3
    assert "vs champion" not in one.output.splitlines()[-1]
    assert one.output.strip().splitlines()[-1].startswith("v1 (champion): AUC ")
    assert f"on 2,000 rows ({positives} positive)" in one.output

    both = run("fraud", "--data", str(path))
    assert both.exit_code == 0, both.output + repr(both.exception)
    assert printed_auc(both.output, 1)[2] == auc
    assert "reference" in both.output and "reference" not in one.output
    v2_auc = printed_auc(both.output, 2)[2]
    expected_v2 = weighted_auc(frame["label"].to_numpy(), onnx_scores(ctx, weaker_v2, frame))
    assert expected_v2 is not None and abs(v2_auc - expected_v2) < 1e-3
    last = both.output.strip().splitlines()[-1]
    assert re.fullmatch(rf"v2 vs champion v1: [+-]\d\.\d{{3}} AUC \[[+-]\d\.\d{{3}}, [+-]\d\.\d{{3}}\] "
                        rf"on 2,000 rows \({positives} positive\)", last), last
    difference = float(last.split(": ")[1].split(" AUC")[0])
    assert abs(difference - (expected_v2 - expected)) < 1e-3
    for route in ("auto_flag", "review", "auto_pass"):
        assert route in both.output


def test_a_bad_file_is_one_line_naming_the_column_or_the_row_and_exit_2(ctx, cli_env, tmp_path) -> None:
    frame = synthetic_transactions(n=50, seed=5)
    missing = run("fraud", "--data", str(labelled_csv(tmp_path, frame.drop(columns=["hour"]), "missing.csv")))
    assert missing.exit_code == 2
    assert missing.stderr.strip().count("\n") == 0 and "missing column 'hour'" in missing.stderr

    labels = frame.astype({"label": object})
    labels.loc[6, "label"] = "maybe"
    unknown = run("fraud", "--data", str(labelled_csv(tmp_path, labels, "labels.csv")))
    assert unknown.exit_code == 2 and unknown.stderr.strip().count("\n") == 0
    assert "row 7.label: unknown label 'maybe'" in unknown.stderr

    bad_value = frame.astype({"amount": object})
    bad_value.loc[2, "amount"] = "lots"
    value = run("fraud", "--data", str(labelled_csv(tmp_path, bad_value, "value.csv")))
    assert value.exit_code == 2 and "row 3.amount: expected a number" in value.stderr

    nobody = run("nonesuch", "--data", str(labelled_csv(tmp_path, frame)))
    assert nobody.exit_code == 2 and "unknown model 'nonesuch'" in nobody.stderr

    absent = run("fraud", "--data", str(tmp_path / "absent.csv"))
    assert absent.exit_code == 2 and absent.stderr.strip().count("\n") == 0 and "absent.csv" in absent.stderr

    version = run("fraud", "--data", str(labelled_csv(tmp_path, frame)), "--versions", "1,9")
    assert version.exit_code == 2 and "has no version 9" in version.stderr
    for result in (missing, unknown, value, nobody, absent, version):
        assert "Traceback" not in result.output


def test_verdict_labels_and_selection_probability_weight_the_auc(ctx, cli_env, tmp_path) -> None:
    frame = synthetic_transactions(n=2000, seed=21)
    scores = onnx_scores(ctx, f"{ctx.settings.artifact_dir}/fraud/1/model.onnx", frame)
    # as a learning sample gathers labels: positives and high-scoring rows far more often than easy negatives,
    # so 1/π weighs the easy negatives back up and the weighted AUC differs from the plain one
    rank = scores.argsort().argsort() / len(scores)
    pi = np.where(frame["label"] == 1, 0.9, 0.02 + 0.98 * rank**2).round(4)
    weighted = frame.assign(selection_probability=pi,
                            label=np.where(frame["label"] == 1, "fraud", "legit"))
    result = run("fraud", "--data", str(labelled_csv(tmp_path, weighted)))
    assert result.exit_code == 0, result.output + repr(result.exception)
    n, positives, auc = printed_auc(result.output, 1)
    assert (n, positives) == (2000, int(frame["label"].sum()))

    y = frame["label"].to_numpy()
    expected = weighted_auc(y, scores, label_weights(pi))
    unweighted = weighted_auc(y, scores)
    assert expected is not None and unweighted is not None
    assert abs(auc - expected) < 1e-3
    assert abs(auc - unweighted) > 0.01
    assert "weighted by 1/π" in result.output.strip().splitlines()[-1]

    # the service itself: the same figure, the scores it measured, and an interval around it
    spec = ctx.registry.model("fraud")
    labelled = evaluation.parse_labelled(spec, list(weighted.columns),
                                         weighted.astype(str).to_dict("records"))
    direct = evaluation.evaluate(ctx, "fraud", labelled.rows, labelled.labels, labelled.probabilities)
    (v1,) = direct.versions
    assert v1.auc == pytest.approx(expected, abs=1e-6)
    assert v1.auc_low is not None and v1.auc_high is not None and v1.auc_low < v1.auc < v1.auc_high
    assert np.allclose(direct.scores[1], scores, atol=1e-6)
    shares = {r.route: r for r in v1.routes}
    assert sum(r.share for r in v1.routes) == pytest.approx(1.0)
    assert sum(r.recall or 0.0 for r in v1.routes) == pytest.approx(1.0)
    assert shares["auto_flag"].precision is None or 0.0 <= shares["auto_flag"].precision <= 1.0
