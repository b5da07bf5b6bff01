"""Retraining: labels in, a new evaluated version out, promoted only if not worse; failures keep the champion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from reviewqueue.db.tables import Label, ModelVersion, TrainingRun
from reviewqueue.domain.states import Role
from reviewqueue.services import decisions, ingest, queue, training
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.serving.sessions import sha256_file
from tests.factories import uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def label_items(ctx, people, n: int) -> None:
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(n)])
    reviewer = authenticate(ctx, people.reviewer)
    for i in range(n):
        item = queue.claim_next(ctx, reviewer, "fraud")
        decisions.decide(ctx, reviewer, item.id, "fraud" if i % 3 else "legit", item.lease_token)


def table(ctx, model):
    with ctx.engine.connect() as conn:
        return conn.execute(select(model).order_by(model.id)).all()


def test_retrain_records_labels_and_metrics_and_the_new_champion_serves_next(ctx, people):
    label_items(ctx, people, 12)
    spec = ctx.registry.model("fraud")
    assert training.labels_since_last_run(ctx, "fraud") == 12
    serving_v1 = ctx.scorers.sessions.version_ids()  # version 1's ONNX session, loaded by the ingest above
    assert serving_v1
    steps: list[str] = []
    result = training.train_version(ctx, spec, trigger="manual", progress=lambda s, f: steps.append(s))
    assert result.promoted and result.version == 2, result
    assert steps[0] == "loading data" and steps[-1] == "done"
    [run] = table(ctx, TrainingRun)
    assert run.status == "promoted" and run.trigger == "manual" and run.n_labels == 12
    assert sorted(run.label_ids) == sorted(lb.id for lb in table(ctx, Label))
    assert run.champion_metrics["n"] == run.candidate_metrics["n"], "both judged on the same holdout"
    assert run.duration_seconds > 0 and run.finished_at is not None
    versions = {v.version: v for v in table(ctx, ModelVersion)}
    assert versions[1].status == "retired" and versions[2].status == "champion"
    assert versions[2].sha256 == sha256_file(Path(versions[2].artifact_path))
    assert versions[2].lineage["parent_version_id"] == versions[1].id
    assert versions[2].lineage["training_run_id"] == run.id
    assert set(versions[2].input_schema["reference"]) == set(spec.features.names)
    # the next request is scored by version 2, with no restart
    [fresh] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(999)])
    assert fresh.model_version == 2
    # and the retired version's session is no longer held in memory
    assert ctx.scorers.sessions.version_ids() == {versions[2].id}
    assert not serving_v1 & ctx.scorers.sessions.version_ids()
    assert training.labels_since_last_run(ctx, "fraud") == 0


def test_a_worse_candidate_is_stored_but_not_promoted(ctx):
    spec = ctx.registry.model("fraud")

    def train_on_noise(df: pd.DataFrame) -> LogisticRegression:
        shuffled = np.random.default_rng(0).permutation(df["label"].to_numpy())
        return LogisticRegression(max_iter=200).fit(df.drop(columns="label"), shuffled)

    result = training.train_version(ctx, dataclasses.replace(spec, train=train_on_noise), trigger="manual")
    assert not result.promoted and result.status == "rejected"
    assert result.candidate_metrics["roc_auc"] < result.champion_metrics["roc_auc"]
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
    frame = pd.concat([data.train, data.holdout])
    assert frame["label"].tolist() == [1], "the chargeback (fraud) wins over the reviewer's legit"
    assert len(data.label_ids) == 2
