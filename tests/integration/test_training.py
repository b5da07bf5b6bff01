"""Retraining: labels in, a new version out, judged out-of-fold on fresh labels against the champion and promoted
only when shown better (the default gate); broken, unconverged or unproven candidates keep the champion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sqlalchemy import select

from reviewqueue.db.tables import Label, ModelVersion, TrainingRun
from reviewqueue.domain.states import Role
from reviewqueue.services import decisions, ingest, queue, training
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.serving.sessions import sha256_file
from tests.factories import uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def label_items(ctx, people, n: int, verdict=lambda i: "fraud" if i % 3 else "legit") -> None:
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(n)])
    reviewer = authenticate(ctx, people.reviewer)
    for _ in range(n):
        item = queue.claim_next(ctx, reviewer, "fraud")
        i = int(item.external_id.removeprefix("tx-u"))
        decisions.decide(ctx, reviewer, item.id, verdict(i), item.lease_token)


def amount_rule(i: int) -> str:
    """Signal the champion lacks: among near-identical transactions, amount ≥ 41 (i % 5 ≥ 2) is fraud."""
    return "fraud" if i % 5 >= 2 else "legit"


def tree(df: pd.DataFrame) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(df.drop(columns="label"), df["label"])


def labels_only(spec, train=tree):
    """The fraud model trained on its labels only (no base dataset) with a fast estimator: seconds, not minutes."""
    return dataclasses.replace(spec, dataset=None, train=train)


def table(ctx, model):
    with ctx.engine.connect() as conn:
        return conn.execute(select(model).order_by(model.id)).all()


def test_a_better_candidate_is_promoted_by_the_default_gate_and_serves_next(ctx, people):
    label_items(ctx, people, 40, amount_rule)
    spec = labels_only(ctx.registry.model("fraud"))
    assert spec.retrain.require_improvement, "the default gate: better with confidence"
    assert training.labels_since_last_run(ctx, "fraud") == 40
    serving_v1 = ctx.scorers.sessions.version_ids()  # version 1's ONNX session, loaded by the ingest above
    assert serving_v1
    steps: list[str] = []
    result = training.train_version(ctx, spec, trigger="manual", progress=lambda s, f: steps.append(s))
    print("\n" + result.decision)
    assert result.promoted and result.version == 2, result
    assert result.decision.startswith("promoted: +") and "AUC [+" in result.decision
    assert "on 40 fresh labels (24 positive), weighted: better with 90% confidence" in result.decision
    assert steps[0] == "loading data" and steps[-1] == "done"
    [run] = table(ctx, TrainingRun)
    assert run.status == "promoted" and run.trigger == "manual" and run.n_labels == 40
    assert run.decision == result.decision and run.warnings == []
    assert sorted(run.label_ids) == sorted(lb.id for lb in table(ctx, Label))
    assert run.champion_metrics["n"] == run.candidate_metrics["n"] == 40, "both judged on the same labels"
    assert run.candidate_metrics["difference_low"] > 0
    assert run.duration_seconds > 0 and run.finished_at is not None
    versions = {v.version: v for v in table(ctx, ModelVersion)}
    assert versions[1].status == "retired" and versions[2].status == "champion"
    assert versions[2].sha256 == sha256_file(Path(versions[2].artifact_path))
    assert versions[2].lineage["parent_version_id"] == versions[1].id
    assert versions[2].lineage["training_run_id"] == run.id
    assert versions[2].lineage["max_label_id"] == max(lb.id for lb in table(ctx, Label))
    assert versions[2].lineage["n_train_rows"] == 40, "every label trains the stored artefact: none held out"
    assert set(versions[2].input_schema["reference"]) == set(spec.features.names)
    # the next request is scored by version 2, with no restart
    [fresh] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(999)])
    assert fresh.model_version == 2
    # and the retired version's session is no longer held in memory
    assert ctx.scorers.sessions.version_ids() == {versions[2].id}
    assert not serving_v1 & ctx.scorers.sessions.version_ids()
    assert training.labels_since_last_run(ctx, "fraud") == 0
    # version 2 trained on every label so far: none is fresh to it, so a retrain now has no evidence
    again = training.train_version(ctx, spec, trigger="manual")
    assert not again.promoted and again.decision == "kept v2: not enough evidence (0 positive fresh labels, need 10)"


def test_too_few_fresh_labels_keep_the_champion_and_say_so(ctx, people):
    label_items(ctx, people, 12)  # 8 fraud, 4 legit
    result = training.train_version(ctx, labels_only(ctx.registry.model("fraud")), trigger="manual")
    assert not result.promoted and result.status == "rejected"
    assert result.decision == "kept v1: not enough evidence (4 negative fresh labels, need 10)"
    [run] = table(ctx, TrainingRun)
    assert run.decision == result.decision
    [fresh] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    assert fresh.model_version == 1


def test_an_inverted_candidate_is_refused_below_the_sanity_floor(ctx, people):
    label_items(ctx, people, 40, amount_rule)

    def inverted(df: pd.DataFrame) -> DecisionTreeClassifier:
        return tree(df.assign(label=1 - df["label"]))

    result = training.train_version(ctx, labels_only(ctx.registry.model("fraud"), inverted), trigger="manual")
    print("\n" + result.decision)
    assert not result.promoted
    assert result.decision.startswith("kept v1: candidate AUC 0.") and "below the sanity floor 0.55" in result.decision


def test_an_unconverged_fit_is_refused_and_its_warning_stored(ctx):
    spec = ctx.registry.model("fraud")

    def three_iterations(df: pd.DataFrame) -> LogisticRegression:
        return LogisticRegression(max_iter=3).fit(df.drop(columns="label"), df["label"])  # unscaled features

    result = training.train_version(ctx, dataclasses.replace(spec, train=three_iterations), trigger="manual")
    print("\n" + result.decision)
    assert not result.promoted and result.decision.startswith("kept v1: the fit did not converge")
    [run] = table(ctx, TrainingRun)
    assert run.status == "rejected" and any("ConvergenceWarning" in w for w in run.warnings), run.warnings
    assert {v.version: v.status for v in table(ctx, ModelVersion)} == {1: "champion", 2: "rejected"}


def test_a_worse_candidate_is_stored_but_not_promoted(ctx):
    spec = ctx.registry.model("fraud")

    def train_on_noise(df: pd.DataFrame) -> Pipeline:
        shuffled = np.random.default_rng(0).permutation(df["label"].to_numpy())
        # scaled, so the fit converges on any CPU's arithmetic: this test is about the sanity floor, and an
        # unconverged fit is refused first (the test above)
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            df.drop(columns="label"), shuffled)

    result = training.train_version(ctx, dataclasses.replace(spec, train=train_on_noise), trigger="manual")
    assert not result.promoted and result.status == "rejected"
    assert result.candidate_metrics["roc_auc"] < result.champion_metrics["roc_auc"]
    assert "below the sanity floor" in result.decision, result.decision
    statuses = {v.version: v.status for v in table(ctx, ModelVersion)}
    assert statuses == {1: "champion", 2: "rejected"}
    [fresh] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    assert fresh.model_version == 1


def test_a_failed_run_keeps_the_champion_serving_and_shows_the_error(ctx):
    spec = ctx.registry.model("fraud")

    def broken(df: pd.DataFrame) -> None:
        raise RuntimeError("feature store unreachable")

    result = training.train_version(ctx, dataclasses.replace(spec, train=broken), trigger="cron")
    assert result.status == "failed" and "feature store unreachable" in result.error
    [run] = table(ctx, TrainingRun)
    assert run.status == "failed" and "RuntimeError: feature store unreachable" in run.error
    assert [v.status for v in table(ctx, ModelVersion)] == ["champion"]
    [fresh] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])
    assert fresh.model_version == 1


def test_chargeback_overrides_a_reviewer_label_for_training(ctx, people):
    label_items(ctx, people, 1)  # i=0 → "legit"
    [reviewer_label] = table(ctx, Label)
    with ctx.engine.begin() as conn:
        conn.execute(Label.__table__.insert().values(
            prediction_id=reviewer_label.prediction_id, model_name="fraud", value="fraud", source="chargeback",
            actor="stripe:evt", created_at=reviewer_label.created_at))
    data = training.collect_labels(ctx, ctx.registry.model("fraud"))
    assert data.frame["label"].tolist() == [1], "the chargeback (fraud) wins over the reviewer's legit"
    assert data.frame["pi"].tolist() == [1.0]
    assert data.frame["first_label_id"].tolist() == [reviewer_label.id], "fresh to a champion only after both"
    assert len(data.label_ids) == 2
