"""Backtest: replay a labelled file through the real product path before going live (issue 9 point 10).

A private in-memory database (``reviewqueue.testing.in_memory_context``) gets version 1 of the model
(``training.train_version``, trigger "register"). The file is split by a fixed seed into a *stream*
(``STREAM_FRACTION``) and an untouched *evaluation set* (never ingested, never labelled). The stream is replayed
in days on a simulated clock (one day per step, so budgets and leases behave):

1. the day's events go through ``ingest.ingest`` (real routing, audits, learning draw);
2. a scripted reviewer (a real principal, Role.REVIEWER, on the model's decision and learning queues) claims
   (``queue.claim_in_transaction``) and decides (``decisions.decide``) up to ``reviews_per_day`` items in turn
   across the queues, with the file's TRUE label as verdict (and never more than ``budget`` reviews in all);
3. every ``retrain_every`` days ``training.train_version(trigger="manual")`` runs and the real gate decides;
4. the served version (``find_champion``) is scored on the evaluation set: ROC AUC with a 95% percentile
   interval over ``BOOTSTRAP_REPS`` resamples; beside it a *random-label baseline*: as many labels as were
   gathered, drawn uniformly from the stream ingested so far, fitted with the model's own ``train`` on its base
   training split plus those labels (tabular models only).

Positives of the day's stream are split into: caught (auto-flagged, or reviewed that day — the reviewer saw the
true label), waiting (routed to review, not reviewed yet) and missed (auto-passed and not reviewed).
Nothing outside the private database and a temporary artifact folder is written.
"""

from __future__ import annotations

import random
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

__all__ = ["DaySummary", "Options", "Simulation", "require_supported", "simulate"]

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
    budget: int | None = None
    """Reviews in all over the whole replay (None: only the per-day limit)."""
    seed: int = 0


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

    def summary(self) -> str:
        """The closing line in words."""
        if not self.days:
            return f"{self.model}: nothing replayed"
        last = self.days[-1]
        served = "n/a" if last.served_auc is None else f"{last.served_auc:.3f}"
        start = "n/a" if self.initial_auc is None else f"{self.initial_auc:.3f}"
        base = "n/a" if last.baseline_auc is None else f"{last.baseline_auc:.3f}"
        promotions = sum(1 for d in self.days if d.promoted)
        caught, missed = sum(d.caught for d in self.days), sum(d.missed for d in self.days)
        positives = sum(d.positives for d in self.days)
        return (f"after {len(self.days)} days and {last.labels:,} reviewer labels, {self.model} serves "
                f"v{last.served_version} with ROC AUC {served} on {self.eval_rows:,} untouched rows (v"
                f"{self.initial_version} started at {start}; {promotions} promotion{'s' * (promotions != 1)}); "
                f"as many random labels give {base}; of {positives:,} positives in the stream {caught:,} were "
                f"caught, {missed:,} auto-passed, {last.pending:,} items left pending")


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
    scorer = ctx.scorers.get(spec, champion.id, champion.artifact_path, champion.sha256)
    scores = np.asarray(scorer.score(rows), dtype=np.float64).reshape(-1)
    return (champion.version, *_auc_interval(y, scores, seed))


class _Baseline:
    """The model's own ``train`` on its base training split plus N labels drawn uniformly from the stream so far."""

    def __init__(self, ctx: AppContext, spec: ModelSpec, eval_frame: pd.DataFrame) -> None:
        self.spec = spec
        self.kind = kind_for(spec)
        self.columns = [*spec.features.names, "label"]
        base_train, _ = base_split(spec)
        artifact_dir = Path(ctx.settings.artifact_dir)
        self.base_enc, self.eval_enc = self.kind.encode(spec, [base_train[self.columns], eval_frame[self.columns]],
                                                        artifact_dir=artifact_dir)
        self.artifact_dir = artifact_dir

    def auc(self, labelled: pd.DataFrame) -> float | None:
        parts = [self.base_enc]
        if not labelled.empty:
            [extra] = self.kind.encode(self.spec, [labelled[self.columns]], artifact_dir=self.artifact_dir)
            parts.append(extra.astype(self.base_enc.dtypes.to_dict()))
        frame = pd.concat(parts, ignore_index=True)
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


def require_supported(spec: ModelSpec) -> None:
    """ValidationFailed unless the random-label baseline can be fitted for this model (tabular models)."""
    if spec.kind != "tabular":
        raise ValidationFailed(f"model {spec.name!r} is a {spec.kind} model: the random-label baseline of "
                               f"`simulate` supports tabular models only", field="model")


def simulate(registry: Registry, model_name: str, rows: Sequence[dict[str, Any]], labels: Sequence[int],
             options: Options, progress: Progress | None = None) -> Simulation:
    """Replay ``rows`` (validated feature rows with their true ``labels``) through a private copy of the product
    (module docstring). ValidationFailed for a text model, too few rows or bad options; NotFound for an
    unknown model."""
    from reviewqueue.testing import in_memory_context

    spec = registry.model(model_name)
    require_supported(spec)
    if options.days < 1 or options.reviews_per_day < 0 or options.retrain_every < 1:
        raise ValidationFailed("days and retrain_every must be at least 1, reviews_per_day at least 0",
                               field="options")
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
    truth = {ids[i]: int(y_all[i]) for i in range(len(rows))}

    with tempfile.TemporaryDirectory(prefix="reviewqueue-simulate-") as artifacts:
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
        baseline = _Baseline(ctx, spec, frame.iloc[eval_idx])
        draw_key = np.random.default_rng(options.seed + 1).random(len(rows))  # the random labeller's order

        days: list[DaySummary] = []
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
            report(f"day {day}: reviewing", (day - 0.6) / options.days)
            limit = options.reviews_per_day
            if options.budget is not None:
                limit = max(0, min(limit, options.budget - reviewed_total))
            reviewed = _review(ctx, actor, spec, queues, limit, truth)
            reviewed_total += len(reviewed)
            gate, promoted = None, None
            if day % options.retrain_every == 0:
                report(f"day {day}: retraining", (day - 0.4) / options.days)
                result = training.train_version(ctx, spec, trigger="manual")
                gate = f"failed: {result.error}" if result.error else result.decision or str(result.status)
                promoted = result.promoted
            report(f"day {day}: measuring", (day - 0.2) / options.days)
            version, auc, low, high = _served(ctx, spec, eval_rows, y_eval, options.seed)
            labels_now = len(training.collect_labels(ctx, spec).frame)
            ingested = np.concatenate(chunks[:day])
            picked = ingested[np.argsort(draw_key[ingested], kind="stable")[:labels_now]]
            baseline_auc = baseline.auc(frame.iloc[picked])
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
                baseline_labels=len(picked), baseline_auc=baseline_auc, gate=gate, promoted=promoted,
            ))
        report("done", 1.0)
        ctx.engine.dispose()
    return Simulation(model=model_name, rows=len(rows), stream_rows=len(stream_idx), eval_rows=len(eval_idx),
                      eval_positives=int(y_eval.sum()), options=options, initial_version=initial_version,
                      initial_auc=initial_auc, days=tuple(days))
