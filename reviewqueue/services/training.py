"""Train, judge against the champion without bias, and promote only a candidate shown to be better.

Evaluation (DESIGN.md 3b; statistics in ``reviewqueue.evaluation``, the rule in ``domain.promotion.decide``):

- every production label trains the stored artefact — none is set aside: the candidate is judged on
  out-of-fold scores (K = 5 stratified folds over the labels, seed 0; the base dataset's training split joins
  every training fold, never an evaluation fold), then refit on base + all labels;
- the champion is scored on the labels it did not train on (label ids above its cutoff, ``max_label_id`` in
  its lineage or run; all labels for a zero-shot champion) and both are compared on exactly those labels,
  each weighted by 1/π (capped, self-normalised), with a paired bootstrap interval of the AUC difference;
- with no production labels at all (version 1 from the base dataset), both are judged on the base dataset's
  held-out split, unweighted;
- the folds are skipped when there cannot be enough evidence (a class with fewer than
  ``Retrain.min_eval_per_class`` fresh labels): the champion is kept and the run says so.

The decision in words and the fit's warnings are stored on the run (``training_runs.decision/warnings``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from reviewqueue.db import labels as label_queries
from reviewqueue.db import leases as lease_queries
from reviewqueue.db import monitoring as monitoring_queries
from reviewqueue.db import runs as run_queries
from reviewqueue.db import versions as version_queries
from reviewqueue.db.versions import Champion
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.domain.promotion import Decision, Evidence, Sanity, decide
from reviewqueue.domain.states import RunStatus, VersionStatus
from reviewqueue.errors import Conflict, NotFound, ReviewQueueError
from reviewqueue.evaluation import label_weights, paired_bootstrap, weighted_auc
from reviewqueue.kinds import (
    HOLDOUT_FRACTION,
    Fitted,
    LabelledData,
    ModelKind,
    Progress,
    as_recorded,
    kind_for,
    no_progress,
    not_retrainable,
    retrainable,
)
from reviewqueue.kinds.base import base_split
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import RunOut
from reviewqueue.services import reference as references
from reviewqueue.services.context import AppContext

__all__ = ["FOLDS", "HOLDOUT_FRACTION", "LabelledData", "Progress", "RunResult", "StartedRun", "collect_labels",
           "continue_run", "get_run", "labels_since_last_run", "list_runs", "metrics_for", "run_of_model",
           "start_run", "train_version"]

log = logging.getLogger(__name__)

FOLDS = 5
"""K of the out-of-fold evaluation (fewer when a class has fewer labels than K)."""
BOOTSTRAP_REPS = 1000
RETRAIN_LEASE_SECONDS = 1800
"""How long a retrain holds its model's lease unrenewed (renewed at every step; a crashed run frees it then)."""
SEED = 0


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: RunStatus
    version: int | None
    promoted: bool
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    error: str | None = None
    decision: str = ""
    warnings: tuple[str, ...] = ()


def metrics_for(y_true: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> dict[str, Any]:
    """The metrics every version records; ``roc_auc`` is weighted by ``weights`` (1/π) when given."""
    predicted = (scores >= 0.5).astype(int)
    both_classes = len(set(y_true.tolist())) == 2
    metrics: dict[str, Any] = {
        "roc_auc": weighted_auc(y_true, scores, weights) if both_classes else None,
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "log_loss": float(log_loss(y_true, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positives": int(y_true.sum()),
        "n": int(len(y_true)),
    }
    if weights is not None:
        metrics["roc_auc_unweighted"] = float(roc_auc_score(y_true, scores)) if both_classes else None
    return metrics


def collect_labels(ctx: AppContext, spec: ModelSpec) -> LabelledData:
    """One label per prediction (domain.labels.best_label_per_prediction), all of them, with π and first id."""
    with ctx.engine.connect() as conn:
        rows = label_queries.labels_with_features(conn, spec.name)
    first_id: dict[int, int] = {}
    for r in rows:
        first_id[r.prediction_id] = min(first_id.get(r.prediction_id, r.id), r.id)
    records: list[dict[str, Any]] = []
    for prediction_id, row in best_label_per_prediction(rows).items():
        if row.value not in (spec.positive_verdict, spec.negative_verdict):
            continue
        record = dict(row.features)
        record["label"] = int(row.value == spec.positive_verdict)
        record["pi"] = 1.0 if row.selection_probability is None else float(row.selection_probability)
        record["first_label_id"] = first_id[prediction_id]
        records.append(record)
    frame = pd.DataFrame(records, columns=[*spec.features.names, "label", "pi", "first_label_id"])
    return LabelledData(
        frame=frame,
        label_ids=[int(r.id) for r in rows],
        max_label_id=max((int(r.id) for r in rows), default=0),
    )


def train_version(
    ctx: AppContext, spec: ModelSpec, trigger: str = "manual", progress: Progress = no_progress
) -> RunResult:
    """Train a candidate on base data + labels, judge it against the champion, promote only if the gate says so."""
    return continue_run(ctx, spec, start_run(ctx, spec, trigger), progress)


@dataclass(frozen=True)
class StartedRun:
    """A run whose row and retrain lease are committed: what ``continue_run`` needs to train it."""

    run_id: int
    labelled: LabelledData
    champion: Champion | None
    cutoff: int
    started: float  # time.monotonic() when it started


def start_run(ctx: AppContext, spec: ModelSpec, trigger: str = "manual") -> StartedRun:
    """Record a running run with exactly the labels it will use and take the model's retrain lease, in one
    commit; Conflict (409) when a retrain of this model is already running (then nothing is recorded)."""
    if trigger != "register" and not retrainable(spec):  # its owner registers new files; nothing is recorded
        raise Conflict(not_retrainable(spec), field="model")
    started = time.monotonic()
    labelled = collect_labels(ctx, spec)
    lease = _retrain_lease(spec.name)
    try:
        with ctx.engine.begin() as conn:  # the run and the model's retrain lease: both, or neither
            champion = version_queries.find_champion(conn, spec.name)
            cutoff = _champion_cutoff(conn, spec.name, champion)
            run_id = run_queries.insert_run(
                conn, model_name=spec.name, trigger=trigger, label_ids=labelled.label_ids,
                max_label_id=labelled.max_label_id, champion_version_id=champion.id if champion else None,
                started_at=ctx.now(),
            )
            if not lease_queries.acquire_lease(conn, lease, f"run {run_id}", ctx.now(), RETRAIN_LEASE_SECONDS):
                raise _already_running(conn, spec.name, lease, ctx.now())  # rolls the run row back
            # holding the lease, no other run of this model is alive: one still marked running was abandoned
            run_queries.abandon_runs(conn, spec.name, keep=run_id, error=ABANDONED, finished_at=ctx.now())
    except IntegrityError:  # PostgreSQL: a concurrent first retrain inserted the lease row a moment before
        with ctx.engine.connect() as conn:
            raise _already_running(conn, spec.name, lease, ctx.now()) from None
    return StartedRun(run_id, labelled, champion, cutoff, started)


def continue_run(ctx: AppContext, spec: ModelSpec, run: StartedRun, progress: Progress = no_progress) -> RunResult:
    """Train, judge and record a started run; releases its lease whatever happens. Each step renews the lease
    and writes the step and its fraction on the run's row (what GET …/runs/{id} shows while it runs)."""
    lease, holder, run_id = _retrain_lease(spec.name), f"run {run.run_id}", run.run_id

    def renewing(step: str, fraction: float) -> None:
        with ctx.engine.begin() as conn:
            lease_queries.acquire_lease(conn, lease, holder, ctx.now(), RETRAIN_LEASE_SECONDS)
            run_queries.set_progress(conn, run_id, step, fraction)
        progress(step, fraction)

    try:
        return _train_and_decide(ctx, spec, run_id, run.labelled, run.champion, run.cutoff, run.started, renewing)
    except Exception as exc:  # the champion keeps serving; the failure is recorded and shown
        log.exception("training run failed", extra={"action": "training_failed", "run_id": run_id})
        with ctx.engine.begin() as conn:
            run_queries.fail_run(conn, run_id, error=f"{type(exc).__name__}: {exc}", finished_at=ctx.now(),
                                 duration_seconds=time.monotonic() - run.started)
        return RunResult(run_id, RunStatus.FAILED, None, False, {}, {}, error=str(exc))
    finally:
        with ctx.engine.begin() as conn:
            lease_queries.release_lease(conn, lease, holder)


def _retrain_lease(model_name: str) -> str:
    """The lease a retrain of this model holds (lease names are at most 64 characters)."""
    name = f"retrain:{model_name}"
    return name if len(name) <= 64 else "retrain:#" + hashlib.sha256(model_name.encode()).hexdigest()[:40]


def _already_running(conn: Connection, model_name: str, lease: str, now: datetime) -> Conflict:
    holder = lease_queries.lease_holder(conn, lease, now)
    return Conflict(f"a retrain of {model_name} is already running ({holder or 'run unknown'})")


def _champion_cutoff(conn: Connection, model_name: str, champion: Champion | None) -> int:
    """The newest label id the champion trained on: labels above it are fresh to it (0: it trained on none)."""
    if champion is None:
        return 0
    found = version_queries.find_version(conn, model_name, champion.version)
    lineage = found.lineage if found is not None else {}
    if "max_label_id" in lineage:
        return int(lineage["max_label_id"])
    if not lineage.get("n_labels") or lineage.get("head") == "zero-shot":
        return 0
    run_id = lineage.get("training_run_id")
    cutoff = run_queries.run_max_label_id(conn, int(run_id)) if run_id is not None else None
    # unknown cutoff: no label can be shown fresh, so the gate keeps the champion (not enough evidence)
    return cutoff if cutoff is not None else 2**62


@dataclass
class _Judged:
    """What the gate is told, and what the run records."""

    sanity: Sanity
    evidence: Evidence | None
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    lineage: dict[str, Any]


def _train_and_decide(
    ctx: AppContext, spec: ModelSpec, run_id: int, labelled: LabelledData, champion: Champion | None,
    cutoff: int, started: float, progress: Progress,
) -> RunResult:
    kind = kind_for(spec)
    artifact_dir = Path(ctx.settings.artifact_dir)
    labels = labelled.frame.reset_index(drop=True)
    progress("loading data", 0.05)
    # a first version, or every version of a bring-your-own model: the declared file, never a fit on labels
    initial = kind.initial(spec, artifact_dir=artifact_dir) if champion is None or not retrainable(spec) else None
    base_train, base_holdout = base_split(spec)
    raw_columns = [*spec.features.names, "label"]
    if initial is not None:  # zero-shot: trained on no row, so every label and holdout row is fresh to it
        [holdout_enc, labels_enc] = kind.encode(spec, [base_holdout[raw_columns], labels[raw_columns]],
                                                artifact_dir=artifact_dir)
        train_enc = labels_enc.iloc[0:0]
        final = initial
    else:
        train_enc, holdout_enc, labels_enc = kind.encode(
            spec, [base_train[raw_columns], base_holdout[raw_columns], labels[raw_columns]], artifact_dir=artifact_dir)
        everything = _concat(train_enc, labels_enc)
        if everything["label"].nunique() < 2:
            raise ReviewQueueError(f"model {spec.name!r}: training needs labelled examples of both verdicts "
                                   f"(have {len(everything)} training rows)")
        progress("training", 0.15)
        final = kind.fit(spec, everything)
    progress("evaluating", 0.45)
    judged = _judge(ctx, kind, spec, labels, labels_enc, train_enc, holdout_enc, base_holdout, final, champion,
                    cutoff, progress)
    decision = decide(judged.sanity, judged.evidence, champion_version=champion.version if champion else None,
                      require_improvement=spec.retrain.require_improvement, tolerance=spec.retrain.tolerance,
                      min_per_class=spec.retrain.min_eval_per_class)
    progress("exporting to ONNX", 0.75)
    artifact = kind.export(spec, final, _concat(train_enc, labels_enc), artifact_dir=artifact_dir)
    names = spec.features.names
    reference = references.training_reference(
        kind, spec, final, train_rows=_concat(base_train[names], labels[names]), holdout_rows=base_holdout,
        holdout_enc=holdout_enc, train_enc=_concat(train_enc, labels_enc))
    return _record(ctx, spec, run_id, labelled, champion, artifact_files=artifact.files,
                   input_schema=artifact.input_schema, fingerprint=artifact.fingerprint,
                   lineage={**artifact.lineage, **judged.lineage}, judged=judged, decision=decision,
                   warnings=final.warnings, started=started, progress=progress, reference=reference)


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in (first, second) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else first.reset_index(drop=True)


def _judge(
    ctx: AppContext, kind: ModelKind, spec: ModelSpec, labels: pd.DataFrame, labels_enc: pd.DataFrame,
    train_enc: pd.DataFrame, holdout_enc: pd.DataFrame, base_holdout: pd.DataFrame, final: Fitted,
    champion: Champion | None, cutoff: int, progress: Progress = no_progress,
) -> _Judged:
    """Out-of-fold on fresh production labels when there are any, else the base holdout (module docstring)."""
    converged, detail = final.converged, "; ".join(final.warnings)[:300]
    holdout_scores = kind.score(spec, final, holdout_enc) if len(holdout_enc) else None
    holdout_auc = (weighted_auc(holdout_enc["label"].to_numpy(), holdout_scores)
                   if holdout_scores is not None else None)
    if labels.empty:  # version 1 (or a retrain before any label): the base dataset's held-out split
        if holdout_scores is None:
            return _Judged(Sanity(None, converged=converged, detail=detail), None, {}, {}, {"evaluated_on": "none"})
        y = holdout_enc["label"].to_numpy()
        champion_scores = (_champion_scores(ctx, kind, spec, champion, base_holdout)
                           if champion is not None else None)
        return _compare(y, holdout_scores, champion_scores, None, on="held-out base rows", converged=converged,
                        detail=detail, lineage={"evaluated_on": "base holdout", "n_eval": len(y)},
                        confidence=spec.retrain.confidence)
    fresh = (labels["first_label_id"] > cutoff).to_numpy() if champion is not None else np.ones(len(labels), bool)
    y_all = labels["label"].to_numpy().astype(int)
    y_fresh = y_all[fresh]
    positives, negatives = int(y_fresh.sum()), int(len(y_fresh) - y_fresh.sum())
    lineage: dict[str, Any] = {"evaluated_on": "fresh labels", "n_eval": int(fresh.sum()),
                               "n_labels_total": len(labels)}
    if min(positives, negatives) < spec.retrain.min_eval_per_class:
        # not enough evidence to compare: skip the folds; the sanity floor looks at the base holdout, if any
        evidence = Evidence(len(y_fresh), positives, None, None, None, None, None, on="fresh labels")
        constant = holdout_scores is not None and bool(np.ptp(holdout_scores) < 1e-9)
        return _Judged(Sanity(holdout_auc, constant=constant, converged=converged, detail=detail), evidence,
                       {}, {}, lineage)
    oof = (kind.score(spec, final, labels_enc) if not final.trained_on_labels
           else _out_of_fold(kind, spec, train_enc, labels_enc, y_all, progress))
    weights = label_weights(labels["pi"].to_numpy()[fresh])
    champion_scores = (_champion_scores(ctx, kind, spec, champion, labels[fresh]) if champion is not None
                       else None)
    return _compare(y_fresh, oof[fresh], champion_scores, weights, on="fresh labels", converged=converged,
                    detail=detail, lineage=lineage, confidence=spec.retrain.confidence)


def _champion_scores(ctx: AppContext, kind: ModelKind, spec: ModelSpec, champion: Champion,
                     rows: pd.DataFrame) -> np.ndarray:
    """The champion's scores on ``rows``, served as its version recorded (kinds.as_recorded)."""
    return kind.score_version(as_recorded(spec, champion.input_schema), _champion_file(ctx, champion), rows,
                              ctx.scorers.runtime)


def _champion_file(ctx: AppContext, champion: Champion) -> str:
    """The champion's model file on this host, fetched from the artifact store and verified."""
    return str(ctx.artifacts.version_file(champion.artifact_path, champion.sha256))


def _out_of_fold(kind: ModelKind, spec: ModelSpec, base_enc: pd.DataFrame, labels_enc: pd.DataFrame,
                 y: np.ndarray, progress: Progress = no_progress) -> np.ndarray:
    """Each label scored by a fit on the base rows + the other folds' labels (stratified K-fold, seed 0).
    The K fits are most of a retrain's time: each one done moves the progress from 0.45 towards 0.70."""
    from sklearn.model_selection import StratifiedKFold

    k = max(2, min(FOLDS, int(np.bincount(y, minlength=2).min())))
    scores = np.zeros(len(y), dtype=np.float64)
    for fold, (train_idx, eval_idx) in enumerate(StratifiedKFold(n_splits=k, shuffle=True, random_state=SEED).split(
            np.zeros(len(y)), y), start=1):
        fitted = kind.fit(spec, _concat(base_enc, labels_enc.iloc[train_idx]))
        scores[eval_idx] = kind.score(spec, fitted, labels_enc.iloc[eval_idx])
        progress(f"evaluating: fold {fold} of {k} done", 0.45 + 0.25 * fold / k)
    return scores


def _compare(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None, weights: np.ndarray | None, *,
             on: str, converged: bool, detail: str, lineage: dict[str, Any], confidence: float) -> _Judged:
    w = np.ones(len(y)) if weights is None else weights
    constant = bool(len(candidate) and np.ptp(candidate) < 1e-9)
    candidate_metrics = metrics_for(y, candidate, weights)
    champion_metrics = metrics_for(y, champion, weights) if champion is not None else {}
    sanity = Sanity(candidate_metrics["roc_auc"], constant=constant, converged=converged, detail=detail)
    if champion is None:
        evidence = Evidence(len(y), int(y.sum()), candidate_metrics["roc_auc"], None, None, None, None, on=on,
                            weighted=weights is not None)
        return _Judged(sanity, evidence, candidate_metrics, champion_metrics, lineage)
    # The central (2c − 1) interval: its lower end is the one-sided bound the gate tests at confidence c.
    comparison = paired_bootstrap(y, candidate, champion, w, reps=BOOTSTRAP_REPS, seed=SEED,
                                  level=2 * confidence - 1)
    evidence = Evidence(comparison.n, comparison.positives, comparison.candidate, comparison.champion,
                        comparison.difference, comparison.low, comparison.high, on=on, weighted=weights is not None,
                        confidence=confidence)
    candidate_metrics.update({"difference": comparison.difference, "difference_low": comparison.low,
                              "difference_high": comparison.high, "weighted": weights is not None})
    return _Judged(sanity, evidence, candidate_metrics, champion_metrics, lineage)


def _record(
    ctx: AppContext, spec: ModelSpec, run_id: int, labelled: LabelledData, champion: Champion | None, *,
    artifact_files: dict[str, bytes], input_schema: dict[str, Any], fingerprint: str, lineage: dict[str, Any],
    judged: _Judged, decision: Decision, warnings: list[str], started: float, progress: Progress,
    reference: dict[str, Any] | None = None,
) -> RunResult:
    progress("storing version", 0.9)
    candidate_metrics, champion_metrics = judged.candidate_metrics, judged.champion_metrics
    promoted = decision.promote
    text = decision.text
    staged = ctx.artifacts.stage_version(spec.name, f"run{run_id}", artifact_files)
    sha = staged.sha256
    try:
        with ctx.engine.begin() as conn:
            version = version_queries.next_version_number(conn, spec.name)
            path = staged.artifact_path(version)
            now = ctx.now()
            if promoted:
                promoted = _retire_champion(conn, spec.name, champion.id if champion else None)
                if not promoted:
                    text = "rejected: another run replaced the champion meanwhile (" + text + ")"
            version_id = version_queries.insert_version(
                conn, model_name=spec.name, version=version,
                status=VersionStatus.CHAMPION if promoted else VersionStatus.REJECTED,
                artifact_path=path, sha256=sha, input_schema=input_schema,
                data_fingerprint=fingerprint, metrics=candidate_metrics,
                lineage={"training_run_id": run_id, "parent_version_id": champion.id if champion else None,
                         "n_labels": len(labelled.label_ids), "max_label_id": labelled.max_label_id, **lineage},
                created_at=now, promoted_at=now if promoted else None,
            )
            staged.place(conn, version)  # the version row is reserved: its files go in place
            if reference is not None:  # drift's baseline, stored with the version it describes
                monitoring_queries.store_reference(conn, version_id, reference)
            status = RunStatus.PROMOTED if promoted else RunStatus.REJECTED
            run_queries.finish_run(
                conn, run_id, status=status, candidate_version_id=version_id, candidate_metrics=candidate_metrics,
                champion_metrics=champion_metrics, finished_at=now, duration_seconds=time.monotonic() - started,
                decision=text, warnings=warnings,
            )
    except BaseException:
        staged.discard()  # ours alone: nothing names it once rolled back
        raise
    progress("done", 1.0)
    log.info("training run finished", extra={"action": "training_finished", "run_id": run_id,
                                             "version": version, "promoted": promoted, "decision": text})
    return RunResult(run_id, status, version, promoted, candidate_metrics, champion_metrics,
                     decision=text, warnings=tuple(warnings))


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
    """A model's runs, newest first (a run whose process stopped shows as failed, abandoned)."""
    with ctx.read() as conn:
        runs = run_queries.list_runs(conn, model_name, limit)
    if _sweep_abandoned(ctx, model_name, [r for r in runs if r.status == RunStatus.RUNNING]):
        with ctx.read() as conn:
            runs = run_queries.list_runs(conn, model_name, limit)
    return runs


# What a run whose process stopped (killed, crashed, host lost) before it recorded its end shows as its error.
ABANDONED = ("abandoned: the process running it stopped before it finished (its retrain lease lapsed); "
             "nothing was promoted — start the retrain again")


def _sweep_abandoned(ctx: AppContext, model_name: str, running: list[RunOut]) -> bool:
    """Runs shown as running whose process no longer renews the model's retrain lease end failed (ABANDONED);
    True when any did. The lease is renewed at every step of a live run, so a lapsed one means a dead run."""
    if not running:  # the runs list with nothing running: no lease to read
        return False
    lease = _retrain_lease(model_name)
    # the common case, a live run's bar polled every second: one read, which takes no write lock on either backend
    with ctx.read() as conn:
        holder = lease_queries.lease_holder(conn, lease, ctx.now())
    if all(holder == f"run {r.id}" for r in running):
        return False
    with ctx.engine.begin() as conn:  # asked again with the write: a new run may have taken the lease since
        holder = lease_queries.lease_holder(conn, lease, ctx.now())
        alive = next((r.id for r in running if holder == f"run {r.id}"), None)
        return run_queries.abandon_runs(conn, model_name, keep=alive, error=ABANDONED, finished_at=ctx.now()) > 0


def get_run(ctx: AppContext, run_id: int) -> RunOut:
    """One run as the API shows it."""
    with ctx.read() as conn:
        return run_queries.get_run(conn, run_id)


def run_of_model(ctx: AppContext, model_name: str, run_id: int) -> RunOut:
    """One run of this model, with its stage and progress while it runs; NotFound naming the run otherwise."""
    with ctx.read() as conn:
        run = run_queries.find_run(conn, model_name, run_id)
    if run is not None and run.status == RunStatus.RUNNING and _sweep_abandoned(ctx, model_name, [run]):
        with ctx.read() as conn:
            run = run_queries.find_run(conn, model_name, run_id)
    if run is None:
        raise NotFound(f"model {model_name!r} has no training run {run_id}", field="run_id")
    return run
