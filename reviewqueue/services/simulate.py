"""Backtest: replay a labelled file through the real product path before going live (issue 9 point 10).

A private in-memory database (``reviewqueue.testing.in_memory_context``) gets version 1 of the model
(``training.train_version``, trigger "register"). The file is split by a fixed seed into a *stream*
(``STREAM_FRACTION``) and an untouched *evaluation set* (never ingested, never labelled). The stream is replayed
in days on a simulated clock (one day per step, so budgets and leases behave):

1. the day's events go through ``ingest.ingest`` (real routing, audits, learning draw);
2. a scripted reviewer (a real principal, Role.REVIEWER, on the model's decision and learning queues) claims
   (``queue.claim_in_transaction``) and decides (``decisions.decide``) up to ``reviews_per_day`` items in turn
   across the queues, with the file's TRUE label as verdict (and never more than ``budget`` reviews in all);
3. every ``retrain_every`` days (0: never by the day) ``training.train_version(trigger="manual")`` runs and the
   real gate decides; with ``checkpoints`` (label counts, e.g. 64, 256, 1024) the reviewer stops the moment the
   labels reach each count, the model retrains there (the label-count trigger, as ``Retrain.min_new_labels``
   does in production) and the checkpoint is measured;
4. the served version (``find_champion``) is scored on the evaluation set: ROC AUC with a 95% percentile
   interval over ``BOOTSTRAP_REPS`` resamples; beside it two baselines fitted with the model's own ``train``
   on its base training split (if any) plus as many labels as the product gathered: *random* (drawn uniformly
   from the stream ingested so far) and, at checkpoints, *top of queue* (the ingested events version 1 scored
   highest: a reviewer who only ever labels the top of a score-ranked queue, with no audit or learning sample).
   Every row is encoded once (for a text model: embedded once), so the baselines cost a fit each.

Positives of the day's stream are split into: caught (auto-flagged, or reviewed that day — the reviewer saw the
true label), waiting (routed to review, not reviewed yet) and missed (auto-passed and not reviewed).
Nothing outside the private database and a temporary artifact folder is written.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reviewqueue.db.versions import find_champion
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.policies import Route
from reviewqueue.domain.states import Role
from reviewqueue.errors import ValidationFailed
from reviewqueue.evaluation import weighted_auc, weighted_auc_many
from reviewqueue.kinds import kind_for
from reviewqueue.kinds.base import base_split
from reviewqueue.registry import ModelSpec, Registry
from reviewqueue.services import auth, decisions, ingest, queue, training
from reviewqueue.services.context import AppContext

__all__ = ["Checkpoint", "DaySummary", "Options", "Simulation", "simulate"]

STREAM_FRACTION = 0.7
BOOTSTRAP_REPS = 1000
LEVEL = 0.95
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SIMULATOR = Actor(0, "simulate", Role.INTEGRATION, ())
REVIEWER = "simulated-reviewer"

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Options:
    days: int = 7
    reviews_per_day: int = 100
    retrain_every: int = 2
    """Retrain every N days; 0: only at ``checkpoints``."""
    budget: int | None = None
    """Reviews in all over the whole replay (None: only the per-day limit)."""
    seed: int = 0
    checkpoints: tuple[int, ...] = ()
    """Label counts at which the reviewer pauses, the model retrains and all three are measured."""

    def __post_init__(self) -> None:
        if self.days < 1 or self.reviews_per_day < 0 or self.retrain_every < 0:
            raise ValidationFailed("days must be at least 1, reviews_per_day and retrain_every at least 0",
                                   field="options")
        if any(c < 1 for c in self.checkpoints):
            raise ValidationFailed("checkpoints are label counts of at least 1", field="checkpoints")


@dataclass(frozen=True)
class DaySummary:
    """One simulated day: its stream, the reviewer's work, the gate, and both models on the evaluation set."""

    day: int
    events: int
    positives: int
    auto_flagged: int
    to_review: int
    auto_passed: int
    reviewed: int
    reviewed_total: int
    pending: int
    labels: int
    caught: int
    waiting: int
    missed: int
    served_version: int
    served_auc: float | None
    served_auc_low: float | None
    served_auc_high: float | None
    baseline_labels: int
    baseline_auc: float | None
    gate: str | None
    promoted: bool | None


@dataclass(frozen=True)
class Checkpoint:
    """The moment the product's labels reached ``labels``: its retrain, and the served version beside the
    models the same number of random and top-of-queue labels give."""

    labels: int
    day: int
    positives: int
    """Positive labels among them."""
    served_version: int
    served_auc: float | None
    served_auc_low: float | None
    served_auc_high: float | None
    random_auc: float | None
    random_positives: int
    top_auc: float | None
    top_positives: int
    gate: str | None
    promoted: bool | None


@dataclass(frozen=True)
class Simulation:
    model: str
    rows: int
    stream_rows: int
    eval_rows: int
    eval_positives: int
    options: Options
    initial_version: int
    initial_auc: float | None
    days: tuple[DaySummary, ...]
    checkpoints: tuple[Checkpoint, ...] = ()
    missed_checkpoints: tuple[int, ...] = ()
    """Requested label counts the replay never reached (the stream ran out of items to review)."""

    def summary(self) -> str:
        """The closing line in words."""
        if not self.days:
            return f"{self.model}: nothing replayed"
        last = self.days[-1]
        served = "n/a" if last.served_auc is None else f"{last.served_auc:.3f}"
        start = "n/a" if self.initial_auc is None else f"{self.initial_auc:.3f}"
        base = "n/a" if last.baseline_auc is None else f"{last.baseline_auc:.3f}"
        promotions = sum(1 for d in self.days if d.promoted) + sum(1 for c in self.checkpoints if c.promoted)
        caught, missed = sum(d.caught for d in self.days), sum(d.missed for d in self.days)
        positives = sum(d.positives for d in self.days)
        return (f"after {len(self.days)} days and {last.labels:,} reviewer labels, {self.model} serves "
                f"v{last.served_version} with ROC AUC {served} on {self.eval_rows:,} untouched rows (v"
                f"{self.initial_version} started at {start}; {promotions} promotion{'s' * (promotions != 1)}); "
                f"as many random labels give {base}; of {positives:,} positives in the stream {caught:,} were "
                f"caught, {missed:,} auto-passed, {last.pending:,} items left pending"
                + (f"; checkpoints never reached: {', '.join(map(str, self.missed_checkpoints))} labels"
                   if self.missed_checkpoints else ""))


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * STREAM_FRACTION))
    return order[:cut], order[cut:]


def _auc_interval(y: np.ndarray, scores: np.ndarray, seed: int) -> tuple[float | None, float | None, float | None]:
    auc = weighted_auc(y, scores)
    if auc is None:
        return None, None, None
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    for start in range(0, BOOTSTRAP_REPS, 250):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(250, BOOTSTRAP_REPS - start))
        values.append(weighted_auc_many(y, scores, counts.astype(np.float64)))
    resampled = np.concatenate(values)
    resampled = resampled[~np.isnan(resampled)]
    if not resampled.size:
        return auc, None, None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return auc, float(min(low, auc)), float(max(high, auc))


def _served(ctx: AppContext, spec: ModelSpec, rows: list[dict[str, Any]], y: np.ndarray,
            seed: int) -> tuple[int, float | None, float | None, float | None]:
    with ctx.read() as conn:
        champion = find_champion(conn, spec.name)
    if champion is None:
        raise ValidationFailed(f"model {spec.name!r}: no version serves", field="model")
    scorer = ctx.scorers.get(spec, champion.id, champion.artifact_path, champion.sha256,
                             config=champion.serving_config or {}, input_schema=champion.input_schema)
    scores = np.asarray(scorer.score(rows), dtype=np.float64).reshape(-1)
    return (champion.version, *_auc_interval(y, scores, seed))


class _Baseline:
    """The model's own ``train`` on its base training split (if any) plus chosen rows of the file.

    Every row of the file is encoded once up front, so each baseline costs one fit."""

    def __init__(self, ctx: AppContext, spec: ModelSpec, frame: pd.DataFrame, eval_idx: np.ndarray) -> None:
        self.spec = spec
        self.kind = kind_for(spec)
        columns = [*spec.features.names, "label"]
        base_train, _ = base_split(spec)
        self.base_enc, self.all_enc = self.kind.encode(spec, [base_train[columns], frame[columns]],
                                                       artifact_dir=Path(ctx.settings.artifact_dir))
        self.eval_enc = self.all_enc.iloc[eval_idx]

    def auc(self, rows: np.ndarray) -> float | None:
        """Held-out ROC AUC of a fit on the base rows plus the file's ``rows`` (indices); None with one class."""
        parts = [p for p in (self.base_enc, self.all_enc.iloc[rows]) if not p.empty]
        if not parts:
            return None
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        if frame["label"].nunique() < 2:
            return None
        fitted = self.kind.fit(self.spec, frame)
        return weighted_auc(self.eval_enc["label"].to_numpy(), self.kind.score(self.spec, fitted, self.eval_enc))


def _review(ctx: AppContext, actor: Actor, spec: ModelSpec, queues: Sequence[str], limit: int,
            truth: dict[str, int]) -> list[str]:
    """Claim and decide up to ``limit`` items, one queue after the other in turn; the external ids reviewed."""
    done: list[str] = []
    open_queues = list(queues)
    while len(done) < limit and open_queues:
        for name in list(open_queues):
            if len(done) >= limit:
                break
            authorize(actor, Permission.ITEMS_REVIEW, name)
            with ctx.engine.begin() as conn:
                claim = queue.claim_in_transaction(ctx, conn, actor.id, name)
            if claim is None or claim.view is None:
                open_queues.remove(name)
                continue
            external_id = claim.view.external_id
            verdict = spec.positive_verdict if truth[external_id] == 1 else spec.negative_verdict
            decisions.decide(ctx, actor, claim.item_id, verdict, claim.lease_token, note="simulated review")
            done.append(external_id)
    return done


def _reuse_encoder(spec: ModelSpec, source: Path | None, target: Path) -> None:
    """Copy a text model's exported encoder from the configured store, so the replay does not export it again."""
    from reviewqueue.kinds.text import ENCODER_FOLDER

    if source is None or spec.kind != "text":
        return
    folder = Path(source) / spec.name / ENCODER_FOLDER
    if (folder / "encoder.onnx").is_file():
        shutil.copytree(folder, target / spec.name / ENCODER_FOLDER)


def simulate(registry: Registry, model_name: str, rows: Sequence[dict[str, Any]], labels: Sequence[int],
             options: Options, progress: Progress | None = None, *, artifacts_from: Path | None = None) -> Simulation:
    """Replay ``rows`` (validated feature rows with their true ``labels``) through a private copy of the product
    (module docstring). ValidationFailed for too few rows or bad options; NotFound for an unknown model.

    ``artifacts_from``: the configured artifact store, read only to reuse a text model's exported encoder."""
    from reviewqueue.testing import in_memory_context

    spec = registry.model(model_name)
    if len(rows) != len(labels):
        raise ValidationFailed("rows and labels differ in length", field="labels")
    stream_idx, eval_idx = _split(len(rows), options.seed)
    if len(stream_idx) < options.days or len(eval_idx) < 2:
        raise ValidationFailed(f"{len(rows)} rows are too few for {options.days} days and an evaluation set",
                               field="rows")
    report = progress or (lambda step, fraction: None)
    y_all = np.asarray(labels, dtype=int)
    eval_rows = [dict(rows[i]) for i in eval_idx]
    y_eval = y_all[eval_idx]
    if len(set(y_eval.tolist())) < 2:
        raise ValidationFailed("the evaluation set holds one class only", field="labels")
    frame = pd.DataFrame([dict(r) for r in rows], columns=list(spec.features.names)).assign(label=y_all)
    ids = [f"sim-{i}" for i in range(len(rows))]
    index_of = {external_id: i for i, external_id in enumerate(ids)}
    truth = {ids[i]: int(y_all[i]) for i in range(len(rows))}

    with tempfile.TemporaryDirectory(prefix="reviewqueue-simulate-") as artifacts:
        _reuse_encoder(spec, artifacts_from, Path(artifacts))
        current = START
        ctx = in_memory_context(registry, artifact_dir=Path(artifacts))
        ctx.clock = lambda: current
        ctx.rng = random.Random(options.seed)
        report("registering version 1", 0.0)
        first = training.train_version(ctx, spec, trigger="register")
        if first.error:
            raise ValidationFailed(f"model {model_name!r}: version 1 did not train: {first.error}", field="model")
        initial_version, initial_auc, _, _ = _served(ctx, spec, eval_rows, y_eval, options.seed)
        queues = [spec.queue, *([spec.learning.queue] if spec.learning else [])]
        reviewer = auth.create_principal(ctx, REVIEWER, Role.REVIEWER, queues)
        actor = Actor(reviewer, REVIEWER, Role.REVIEWER, tuple(queues))
        report("encoding the file for the baselines", 0.02)
        baseline = _Baseline(ctx, spec, frame, eval_idx)
        draw_key = np.random.default_rng(options.seed + 1).random(len(rows))  # the random labeller's order
        with ctx.read() as conn:
            champion = find_champion(conn, spec.name)
        assert champion is not None  # version 1 trained above
        first_scorer = ctx.scorers.get(spec, champion.id, champion.artifact_path, champion.sha256,
                                       config=champion.serving_config or {}, input_schema=champion.input_schema)
        first_scores = np.full(len(rows), -np.inf)  # the top-of-queue labeller's order: version 1's scores
        first_scores[stream_idx] = np.asarray(first_scorer.score([rows[i] for i in stream_idx]), dtype=np.float64)

        def random_rows(ingested: np.ndarray, n: int) -> np.ndarray:
            return ingested[np.argsort(draw_key[ingested], kind="stable")[:n]]

        days: list[DaySummary] = []
        checkpoints: list[Checkpoint] = []
        waiting_for = sorted(set(options.checkpoints))
        labelled_rows: list[int] = []
        reviewed_total = 0
        chunks = np.array_split(stream_idx, options.days)
        for day, chunk in enumerate(chunks, start=1):
            current = START + timedelta(days=day - 1)
            report(f"day {day}: ingesting", (day - 1) / options.days)
            routed: dict[str, str] = {}
            for start in range(0, len(chunk), ctx.settings.batch_limit):
                batch = chunk[start:start + ctx.settings.batch_limit]
                events = [{"external_id": ids[i], "features": dict(rows[i])} for i in batch]
                for out in ingest.ingest(ctx, SIMULATOR, model_name, events):
                    routed[out.external_id] = out.route
            ingested = np.concatenate(chunks[:day])
            report(f"day {day}: reviewing", (day - 0.6) / options.days)
            limit = options.reviews_per_day
            if options.budget is not None:
                limit = max(0, min(limit, options.budget - reviewed_total))
            reviewed: list[str] = []
            while len(reviewed) < limit:
                step = limit - len(reviewed)
                if waiting_for:
                    step = min(step, waiting_for[0] - reviewed_total)
                done = _review(ctx, actor, spec, queues, step, truth)
                reviewed += done
                reviewed_total += len(done)
                labelled_rows += [index_of[e] for e in done]
                if waiting_for and reviewed_total == waiting_for[0]:
                    count = waiting_for.pop(0)
                    report(f"day {day}: retraining at {count} labels", (day - 0.5) / options.days)
                    result = training.train_version(ctx, spec, trigger="manual")
                    version, auc, low, high = _served(ctx, spec, eval_rows, y_eval, options.seed)
                    randomly = random_rows(ingested, count)
                    top = ingested[np.argsort(-first_scores[ingested], kind="stable")[:count]]
                    checkpoints.append(Checkpoint(
                        labels=count, day=day, positives=int(y_all[labelled_rows].sum()), served_version=version,
                        served_auc=auc, served_auc_low=low, served_auc_high=high,
                        random_auc=baseline.auc(randomly), random_positives=int(y_all[randomly].sum()),
                        top_auc=baseline.auc(top), top_positives=int(y_all[top].sum()),
                        gate=f"failed: {result.error}" if result.error else result.decision or str(result.status),
                        promoted=result.promoted,
                    ))
                    continue
                if len(done) < step:
                    break  # every queue is empty
            gate, promoted = None, None
            if options.retrain_every and day % options.retrain_every == 0:
                report(f"day {day}: retraining", (day - 0.4) / options.days)
                result = training.train_version(ctx, spec, trigger="manual")
                gate = f"failed: {result.error}" if result.error else result.decision or str(result.status)
                promoted = result.promoted
            report(f"day {day}: measuring", (day - 0.2) / options.days)
            version, auc, low, high = _served(ctx, spec, eval_rows, y_eval, options.seed)
            labels_now = len(training.collect_labels(ctx, spec).frame)
            picked = random_rows(ingested, labels_now)
            pending = sum(q.pending + q.claimed for q in queue.overview(ctx, actor) if q.queue in queues)
            seen = set(reviewed)
            positives = [ids[i] for i in chunk if y_all[i] == 1]
            caught = sum(1 for e in positives if routed[e] == Route.AUTO_FLAG or e in seen)
            waiting = sum(1 for e in positives if routed[e] == Route.REVIEW and e not in seen)
            days.append(DaySummary(
                day=day, events=len(chunk), positives=len(positives),
                auto_flagged=sum(1 for r in routed.values() if r == Route.AUTO_FLAG),
                to_review=sum(1 for r in routed.values() if r == Route.REVIEW),
                auto_passed=sum(1 for r in routed.values() if r == Route.AUTO_PASS),
                reviewed=len(reviewed), reviewed_total=reviewed_total, pending=pending, labels=labels_now,
                caught=caught, waiting=waiting, missed=len(positives) - caught - waiting,
                served_version=version, served_auc=auc, served_auc_low=low, served_auc_high=high,
                baseline_labels=len(picked), baseline_auc=baseline.auc(picked), gate=gate, promoted=promoted,
            ))
        report("done", 1.0)
        ctx.engine.dispose()
    return Simulation(model=model_name, rows=len(rows), stream_rows=len(stream_idx), eval_rows=len(eval_idx),
                      eval_positives=int(y_eval.sum()), options=options, initial_version=initial_version,
                      initial_auc=initial_auc, days=tuple(days), checkpoints=tuple(checkpoints),
                      missed_checkpoints=tuple(waiting_for))
