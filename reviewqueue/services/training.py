"""Train, export to ONNX, evaluate against the champion on one shared holdout, and promote if not worse.

The holdout is fixed per model: the base dataset's split (random_state=0) plus every labelled prediction
whose id hashes into the holdout fraction, so champion and candidate are always compared on the same rows.
How a candidate is trained and exported is its kind's business (``reviewqueue.kinds``); the promotion rule is
``domain.promotion.should_promote``; the statements are in ``db.versions``, ``db.runs`` and ``db.labels``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sqlalchemy.engine import Connection

from reviewqueue.db import labels as label_queries
from reviewqueue.db import runs as run_queries
from reviewqueue.db import versions as version_queries
from reviewqueue.db.versions import Champion
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.domain.policies import stable_fraction
from reviewqueue.domain.promotion import should_promote
from reviewqueue.domain.states import RunStatus, VersionStatus
from reviewqueue.kinds import HOLDOUT_FRACTION, Candidate, LabelledData, Progress, kind_for, no_progress
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import RunOut
from reviewqueue.services.context import AppContext
from reviewqueue.serving.sessions import sha256_file

__all__ = ["HOLDOUT_FRACTION", "Candidate", "LabelledData", "Progress", "RunResult", "collect_labels",
           "labels_since_last_run", "list_runs", "metrics_for", "train_version"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: RunStatus
    version: int | None
    promoted: bool
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    error: str | None = None


def metrics_for(y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The metrics every version records; roc_auc is the default promotion metric."""
    predicted = (scores >= 0.5).astype(int)
    both_classes = len(set(y_true.tolist())) == 2
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)) if both_classes else None,
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "log_loss": float(log_loss(y_true, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positives": int(y_true.sum()),
        "n": int(len(y_true)),
    }


def collect_labels(ctx: AppContext, spec: ModelSpec) -> LabelledData:
    """One label per prediction (domain.labels.best_label_per_prediction), split into train/holdout by id hash."""
    with ctx.engine.connect() as conn:
        rows = label_queries.labels_with_features(conn, spec.name)
    records: list[dict[str, Any]] = []
    for prediction_id, row in best_label_per_prediction(rows).items():
        if row.value not in (spec.positive_verdict, spec.negative_verdict):
            continue
        record = dict(row.features)
        record["label"] = int(row.value == spec.positive_verdict)
        record["_holdout"] = stable_fraction(f"holdout:{spec.name}:{prediction_id}") < HOLDOUT_FRACTION
        records.append(record)
    columns = [*spec.features.names, "label", "_holdout"]
    frame = pd.DataFrame(records, columns=columns)
    holdout_mask = frame["_holdout"].astype(bool)
    return LabelledData(
        train=frame[~holdout_mask].drop(columns="_holdout"),
        holdout=frame[holdout_mask].drop(columns="_holdout"),
        label_ids=[int(r.id) for r in rows],
        max_label_id=max((int(r.id) for r in rows), default=0),
    )


def _store_artifact(ctx: AppContext, spec: ModelSpec, version: int, files: dict[str, bytes]) -> tuple[str, str]:
    folder = Path(ctx.settings.artifact_dir) / spec.name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items(), key=lambda f: f[0] == "model.onnx"):  # the model last
        target = folder / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: a reader never sees half a file
    path = folder / "model.onnx"
    return str(path.resolve()), sha256_file(path)


def train_version(
    ctx: AppContext, spec: ModelSpec, trigger: str = "manual", progress: Progress = no_progress
) -> RunResult:
    """Train a candidate on base data + labels, evaluate it against the champion, promote if not worse."""
    started = time.monotonic()
    labelled = collect_labels(ctx, spec)
    with ctx.engine.begin() as conn:
        champion = version_queries.find_champion(conn, spec.name)
        run_id = run_queries.insert_run(
            conn, model_name=spec.name, trigger=trigger, label_ids=labelled.label_ids,
            max_label_id=labelled.max_label_id, champion_version_id=champion.id if champion else None,
            started_at=ctx.now(),
        )
    try:
        return _train_and_decide(ctx, spec, run_id, labelled, champion, started, progress)
    except Exception as exc:  # the champion keeps serving; the failure is recorded and shown
        log.exception("training run failed", extra={"action": "training_failed", "run_id": run_id})
        with ctx.engine.begin() as conn:
            run_queries.fail_run(conn, run_id, error=f"{type(exc).__name__}: {exc}", finished_at=ctx.now(),
                                 duration_seconds=time.monotonic() - started)
        return RunResult(run_id, RunStatus.FAILED, None, False, {}, {}, error=str(exc))


def _train_and_decide(
    ctx: AppContext, spec: ModelSpec, run_id: int, labelled: LabelledData, champion: Champion | None,
    started: float, progress: Progress,
) -> RunResult:
    candidate = kind_for(spec).fit(spec, labelled, champion, progress, artifact_dir=Path(ctx.settings.artifact_dir))
    candidate_metrics = metrics_for(candidate.y_true, candidate.candidate_scores) if len(candidate.y_true) else {}
    champion_metrics = (metrics_for(candidate.y_true, candidate.champion_scores)
                        if champion is not None and candidate.champion_scores is not None and len(candidate.y_true)
                        else {})
    promoted = champion is None or should_promote(
        candidate_metrics, champion_metrics, metric=spec.retrain.metric, tolerance=spec.retrain.tolerance,
        require_improvement=spec.retrain.require_improvement)
    progress("storing version", 0.9)
    with ctx.engine.begin() as conn:
        version = version_queries.next_version_number(conn, spec.name)
        path, sha = _store_artifact(ctx, spec, version, candidate.files)
        now = ctx.now()
        if promoted:
            promoted = _retire_champion(conn, spec.name, champion.id if champion else None)
        version_id = version_queries.insert_version(
            conn, model_name=spec.name, version=version,
            status=VersionStatus.CHAMPION if promoted else VersionStatus.REJECTED,
            artifact_path=path, sha256=sha, input_schema=candidate.input_schema,
            data_fingerprint=candidate.fingerprint, metrics=candidate_metrics,
            lineage={"training_run_id": run_id, "parent_version_id": champion.id if champion else None,
                     "n_labels": len(labelled.label_ids), **candidate.lineage},
            created_at=now, promoted_at=now if promoted else None,
        )
        status = RunStatus.PROMOTED if promoted else RunStatus.REJECTED
        run_queries.finish_run(
            conn, run_id, status=status, candidate_version_id=version_id, candidate_metrics=candidate_metrics,
            champion_metrics=champion_metrics, finished_at=now, duration_seconds=time.monotonic() - started,
        )
    progress("done", 1.0)
    log.info("training run finished", extra={"action": "training_finished", "run_id": run_id,
                                             "version": version, "promoted": promoted})
    return RunResult(run_id, status, version, promoted, candidate_metrics, champion_metrics)


def _retire_champion(conn: Connection, model_name: str, expected_id: int | None) -> bool:
    """Retire the champion this run compared against; False if another run replaced it meanwhile."""
    if expected_id is None:
        return version_queries.count_champions(conn, model_name) == 0
    return version_queries.retire_champion(conn, expected_id)


def labels_since_last_run(ctx: AppContext, model_name: str) -> int:
    """How many labels arrived after the newest label any finished run used (the ≥ N trigger)."""
    with ctx.engine.connect() as conn:
        last = run_queries.last_used_label_id(conn, model_name)
        return label_queries.count_labels_after(conn, model_name, last)


def list_runs(ctx: AppContext, model_name: str, limit: int = 50) -> list[RunOut]:
    """A model's runs, newest first."""
    with ctx.read() as conn:
        return run_queries.list_runs(conn, model_name, limit)
