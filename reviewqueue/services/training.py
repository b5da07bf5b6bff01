"""Train, export to ONNX, evaluate against the champion on one shared holdout, and promote if not worse.

The holdout is fixed per model: the base dataset's split (random_state=0) plus every labelled prediction
whose id hashes into the holdout fraction, so champion and candidate are always compared on the same rows.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sqlalchemy import func, select

from reviewqueue.db.tables import Label, ModelVersion, Prediction, TrainingRun
from reviewqueue.domain.policies import stable_fraction
from reviewqueue.domain.states import LABEL_PRECEDENCE, LabelSource, RunStatus, VersionStatus
from reviewqueue.errors import ReviewQueueError
from reviewqueue.registry import ModelSpec, Retrain
from reviewqueue.services.context import AppContext
from reviewqueue.services.versions import find_champion
from reviewqueue.serving.sessions import predict_positive, sha256_file

log = logging.getLogger(__name__)
versions = ModelVersion.__table__  # type: ignore[attr-defined]
runs = TrainingRun.__table__  # type: ignore[attr-defined]
labels = Label.__table__  # type: ignore[attr-defined]
predictions = Prediction.__table__  # type: ignore[attr-defined]

HOLDOUT_FRACTION = 0.2
Progress = Callable[[str, float], None]


def _no_progress(step: str, fraction: float) -> None:
    return None


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: RunStatus
    version: int | None
    promoted: bool
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    error: str | None = None


@dataclass
class LabelledData:
    train: pd.DataFrame
    holdout: pd.DataFrame
    label_ids: list[int]
    max_label_id: int


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


def export_onnx(estimator: Any, n_features: int) -> bytes:
    sample = np.zeros((1, n_features), dtype=np.float32)
    onx = to_onnx(estimator, sample, options={id(estimator): {"zipmap": False}}, target_opset=17)
    return bytes(onx.SerializeToString())


def score_onnx(model_bytes_or_path: bytes | str, matrix: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes_or_path, providers=["CPUExecutionProvider"])
    return predict_positive(session, matrix)


def _fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _base_split(spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    if spec.dataset is None:
        empty = pd.DataFrame(columns=[*spec.features.names, "label"])
        return empty, empty.copy()
    base = spec.dataset()
    missing = [c for c in [*spec.features.names, "label"] if c not in base.columns]
    if missing:
        raise ReviewQueueError(f"model {spec.name!r}: dataset lacks columns {missing}")
    train, holdout = train_test_split(base, test_size=HOLDOUT_FRACTION, random_state=0, stratify=base["label"])
    return train, holdout


def _encode_frame(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[spec.features.names].to_dict("records")
    encoded = pd.DataFrame(spec.features.encode(rows), columns=spec.features.names)
    encoded["label"] = frame["label"].to_numpy().astype(int)
    return encoded


def collect_labels(ctx: AppContext, spec: ModelSpec) -> LabelledData:
    """One label per prediction (chargeback beats reviewer/audit; newest wins among equals), split by hash."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(labels.c.id, labels.c.prediction_id, labels.c.value, labels.c.source, predictions.c.features)
            .join(predictions, predictions.c.id == labels.c.prediction_id)
            .where(labels.c.model_name == spec.name)
            .order_by(labels.c.created_at, labels.c.id)
        ).all()
    best: dict[int, Any] = {}
    for row in rows:
        current = best.get(row.prediction_id)
        rank = LABEL_PRECEDENCE.get(LabelSource(row.source), 1)
        if current is None or rank >= LABEL_PRECEDENCE.get(LabelSource(current.source), 1):
            best[row.prediction_id] = row
    records: list[dict[str, Any]] = []
    for prediction_id, row in best.items():
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


def _reference_values(spec: ModelSpec, train_encoded: pd.DataFrame) -> dict[str, float]:
    """Per-feature medians: the baseline the explanation swaps each feature to."""
    return {name: float(train_encoded[name].median()) for name in spec.features.names}


def train_version(
    ctx: AppContext, spec: ModelSpec, trigger: str = "manual", progress: Progress = _no_progress
) -> RunResult:
    """Train a candidate on base data + labels, evaluate it against the champion, promote if not worse."""
    started = time.monotonic()
    labelled = collect_labels(ctx, spec)
    with ctx.engine.begin() as conn:
        champion = find_champion(conn, spec.name)
        run_id = int(conn.execute(runs.insert().values(
            model_name=spec.name, trigger=trigger, status=RunStatus.RUNNING, label_ids=labelled.label_ids,
            n_labels=len(labelled.label_ids), max_label_id=labelled.max_label_id,
            champion_version_id=champion.id if champion else None, champion_metrics={}, candidate_metrics={},
            started_at=ctx.now(),
        ).returning(runs.c.id)).scalar_one())
    try:
        return _train_and_decide(ctx, spec, run_id, labelled, champion, started, progress)
    except Exception as exc:  # the champion keeps serving; the failure is recorded and shown
        log.exception("training run failed", extra={"action": "training_failed", "run_id": run_id})
        with ctx.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], finished_at=ctx.now(),
                duration_seconds=time.monotonic() - started,
            ))
        return RunResult(run_id, RunStatus.FAILED, None, False, {}, {}, error=str(exc))


@dataclass
class Candidate:
    """A trained model before it is stored: its files, and its and the champion's scores on one holdout."""

    files: dict[str, bytes]  # written into the version folder; "model.onnx" is the served artifact
    y_true: np.ndarray
    candidate_scores: np.ndarray
    champion_scores: np.ndarray | None
    input_schema: dict[str, Any]
    fingerprint: str
    lineage: dict[str, Any]


def _fit_tabular(ctx: AppContext, spec: ModelSpec, labelled: LabelledData, champion: Any,
                 progress: Progress) -> Candidate:
    progress("loading data", 0.05)
    base_train, base_holdout = _base_split(spec)
    train = _encode_frame(spec, _concat(base_train, labelled.train))
    holdout = _encode_frame(spec, _concat(base_holdout, labelled.holdout))
    progress("training", 0.15)
    estimator = spec.train(train.copy())
    progress("exporting to ONNX", 0.6)
    model_bytes = export_onnx(estimator, len(spec.features.names))
    progress("evaluating", 0.75)
    matrix = holdout[spec.features.names].to_numpy(np.float32)
    return Candidate(
        files={"model.onnx": model_bytes},
        y_true=holdout["label"].to_numpy(),
        candidate_scores=score_onnx(model_bytes, matrix),
        champion_scores=score_onnx(champion.artifact_path, matrix) if champion else None,
        input_schema={"features": spec.features.to_json(), "input": "float32[N, F]",
                      "reference": _reference_values(spec, train)},
        fingerprint=_fingerprint(train),
        lineage={"n_train_rows": len(train), "n_holdout_rows": len(holdout), "estimator": type(estimator).__name__},
    )


def _train_and_decide(
    ctx: AppContext, spec: ModelSpec, run_id: int, labelled: LabelledData, champion: Any,
    started: float, progress: Progress,
) -> RunResult:
    if spec.kind == "text":
        from reviewqueue.services.training_text import fit_text

        candidate = fit_text(ctx, spec, labelled, champion, progress)
    else:
        candidate = _fit_tabular(ctx, spec, labelled, champion, progress)
    candidate_metrics = metrics_for(candidate.y_true, candidate.candidate_scores) if len(candidate.y_true) else {}
    champion_metrics = (metrics_for(candidate.y_true, candidate.champion_scores)
                        if champion is not None and candidate.champion_scores is not None and len(candidate.y_true)
                        else {})
    promoted = champion is None or _promotable(candidate_metrics, champion_metrics, spec.retrain)
    progress("storing version", 0.9)
    with ctx.engine.begin() as conn:
        version = int(conn.execute(
            select(func.coalesce(func.max(versions.c.version), 0)).where(versions.c.model_name == spec.name)
        ).scalar_one()) + 1
        path, sha = _store_artifact(ctx, spec, version, candidate.files)
        now = ctx.now()
        if promoted:
            promoted = _retire_champion(conn, spec.name, champion.id if champion else None)
        version_id = int(conn.execute(versions.insert().values(
            model_name=spec.name, version=version,
            status=VersionStatus.CHAMPION if promoted else VersionStatus.REJECTED,
            artifact_path=path, sha256=sha, input_schema=candidate.input_schema,
            data_fingerprint=candidate.fingerprint, metrics=candidate_metrics,
            lineage={"training_run_id": run_id, "parent_version_id": champion.id if champion else None,
                     "n_labels": len(labelled.label_ids), **candidate.lineage},
            created_at=now, promoted_at=now if promoted else None,
        ).returning(versions.c.id)).scalar_one())
        status = RunStatus.PROMOTED if promoted else RunStatus.REJECTED
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            status=status, candidate_version_id=version_id, candidate_metrics=candidate_metrics,
            champion_metrics=champion_metrics, finished_at=now, duration_seconds=time.monotonic() - started,
        ))
    progress("done", 1.0)
    log.info("training run finished", extra={"action": "training_finished", "run_id": run_id,
                                             "version": version, "promoted": promoted})
    return RunResult(run_id, status, version, promoted, candidate_metrics, champion_metrics)


def _promotable(candidate: dict[str, Any], champion: dict[str, Any], retrain: Retrain) -> bool:
    """Not worse than the champion by more than the tolerance; strictly better when the model asks so."""
    metric = retrain.metric
    ours, theirs = candidate.get(metric), champion.get(metric)
    if ours is None:
        return False
    if theirs is None:
        return not retrain.require_improvement
    lower_is_better = metric == "log_loss"
    if retrain.require_improvement:
        return ours < theirs if lower_is_better else ours > theirs
    return _not_worse(ours, theirs, retrain.tolerance, metric)


def _concat(base: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    if extra.empty:
        return base.reset_index(drop=True)
    return pd.concat([base, extra.astype(base.dtypes.to_dict())], ignore_index=True)


def _retire_champion(conn: Any, model_name: str, expected_id: int | None) -> bool:
    """Retire the champion this run compared against; False if another run replaced it meanwhile."""
    if expected_id is None:
        current = conn.execute(select(func.count()).select_from(versions).where(
            versions.c.model_name == model_name, versions.c.status == VersionStatus.CHAMPION)).scalar_one()
        return current == 0
    retired = conn.execute(versions.update().where(
        versions.c.id == expected_id, versions.c.status == VersionStatus.CHAMPION,
    ).values(status=VersionStatus.RETIRED)).rowcount
    return retired == 1


def _not_worse(candidate: float | None, champion: float | None, tolerance: float, metric: str) -> bool:
    if champion is None:
        return candidate is not None
    if candidate is None:
        return False
    if metric in ("log_loss",):  # lower is better
        return candidate <= champion + tolerance
    return candidate >= champion - tolerance


def labels_since_last_run(ctx: AppContext, model_name: str) -> int:
    """How many labels arrived after the newest label any finished run used (the ≥ N trigger)."""
    with ctx.engine.connect() as conn:
        last = conn.execute(
            select(func.coalesce(func.max(runs.c.max_label_id), 0))
            .where(runs.c.model_name == model_name, runs.c.status != RunStatus.FAILED)
        ).scalar_one()
        return int(conn.execute(
            select(func.count()).select_from(labels)
            .where(labels.c.model_name == model_name, labels.c.id > last)
        ).scalar_one())


def list_runs(ctx: AppContext, model_name: str, limit: int = 50) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.id, runs.c.trigger, runs.c.status, runs.c.n_labels, runs.c.candidate_version_id,
                   runs.c.champion_version_id, runs.c.candidate_metrics, runs.c.champion_metrics, runs.c.error,
                   runs.c.started_at, runs.c.finished_at, runs.c.duration_seconds)
            .where(runs.c.model_name == model_name).order_by(runs.c.id.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]
