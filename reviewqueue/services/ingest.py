"""Ingest: validate a batch, score it with the champion, store predictions, route, enqueue — one commit.

Idempotent on (model, external_id): a re-sent event returns the original result and changes nothing.
Bulk inserts go through db/bulk.py: ids allocated up front, then COPY (PostgreSQL) or one executemany (SQLite);
INSERT … RETURNING in parameter order was the bottleneck (BENCHMARKS §3), the ORM slower still (DESIGN §5).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from reviewqueue import metrics
from reviewqueue.db import decisions, items, model_decisions, outbox, predictions, single_write
from reviewqueue.db.versions import Champion, StoredVersion, serving_versions
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.policies import Route
from reviewqueue.domain.sampling import (
    budget_left,
    daily_uncertainty,
    drawn,
    inclusion_probability,
    learning_probability,
    learning_scale,
    start_of_utc_day,
    uncertainty,
)
from reviewqueue.domain.states import DecisionSource
from reviewqueue.errors import BatchTooLarge, EventNotScorable, ValidationFailed
from reviewqueue.features import check_storable, printable
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import PredictionOut
from reviewqueue.services import authority, policies
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import action_payload, outbox_rows

if TYPE_CHECKING:
    from reviewqueue.kinds import Scorer

log = logging.getLogger(__name__)


def validate_events(spec: ModelSpec, events: Any, limit: int) -> list[dict[str, Any]]:
    """Check the whole batch before anything is stored; errors name the field (events[3].features.amount)."""
    if not isinstance(events, Sequence) or isinstance(events, str | bytes):
        raise ValidationFailed("events: expected a list", field="events")
    if not events:
        raise ValidationFailed("events: at least one event is required", field="events")
    if len(events) > limit:
        raise BatchTooLarge(f"events: {len(events)} events is over the batch limit of {limit}", field="events")
    seen: set[str] = set()
    clean: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(event, Mapping):
            raise ValidationFailed(f"{where}: expected an object", field=where)
        unknown = sorted(set(event) - {"external_id", "features", "context"})
        if unknown:
            raise ValidationFailed(f"{where}.{unknown[0]}: unknown field", field=f"{where}.{unknown[0]}")
        external_id = event.get("external_id")
        if not isinstance(external_id, str) or not 1 <= len(external_id) <= 200 or not external_id.strip():
            raise ValidationFailed(f"{where}.external_id: a non-empty string of at most 200 characters",
                                   field=f"{where}.external_id")
        check_storable(external_id, f"{where}.external_id")
        if external_id in seen:
            raise ValidationFailed(f"{where}.external_id: {external_id!r} appears twice in this batch",
                                   field=f"{where}.external_id")
        seen.add(external_id)
        features = spec.features.validate(event.get("features"), where=f"{where}.features")
        context = _validate_context(spec, event.get("context") or {}, f"{where}.context")
        clean.append({"external_id": external_id, "features": features, "context": context, "where": where})
    return clean


def _validate_context(spec: ModelSpec, context: Any, where: str) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise ValidationFailed(f"{where}: expected an object", field=where)
    for key, value in context.items():
        path = f"{where}.{printable(str(key))}"
        if key not in spec.context_fields:
            raise ValidationFailed(f"{path}: unknown context field (declared: {list(spec.context_fields)})",
                                   field=path)
        if not (value is None or isinstance(value, str | int | float)) or (isinstance(value, str) and len(value) > 500):
            raise ValidationFailed(f"{path}: expected a string (≤ 500 chars), number or boolean", field=path)
        check_storable(value, path)  # no NUL, no lone surrogate, no NaN, no integer beyond int64
    return dict(context)


def ingest(ctx: AppContext, actor: Actor, model_name: str, events: Any) -> list[PredictionOut]:
    """Score and route a batch sent by ``actor`` (the inbound webhook's verified signature acts as an
    integration)."""
    authorize(actor, Permission.EVENTS_INGEST)
    spec = ctx.registry.model(model_name)
    clean = validate_events(spec, events, ctx.settings.batch_limit)
    try:
        return _ingest_once(ctx, spec, clean, fast=len(clean) == 1)
    except predictions.NotStored:
        # A guarded INSERT wrote nothing: a duplicate (a single event is not looked up first, and a concurrent
        # request may have stored it a moment ago), or the versions changed since they were read. The exact
        # path reads both afresh.
        ctx.serving_versions.pop(spec.name, None)
        if len(clean) > 1:
            log.info("ingest raced on external_id or a promotion; retrying",
                     extra={"action": "ingest_retry", "model": model_name})
        return _ingest_once(ctx, spec, clean)
    except IntegrityError:
        # A concurrent request stored some of the same external_ids first: now they are duplicates.
        log.info("ingest raced on external_id; retrying", extra={"action": "ingest_retry", "model": model_name})
        return _ingest_once(ctx, spec, clean)


def _ingest_once(ctx: AppContext, spec: ModelSpec, clean: list[dict[str, Any]],
                 fast: bool = False) -> list[PredictionOut]:
    """One transaction. ``fast`` (one event): the versions come from this process's cache and no lookup runs —
    the prediction's INSERT skips a stored external id and checks the versions (NotStored otherwise)."""
    with _fast_connection(ctx) if fast else ctx.engine.begin() as conn:
        current, shadow = _serving(ctx, conn, spec.name) if fast else serving_versions(conn, spec.name)
        existing = {} if fast else predictions.stored_predictions(conn, spec.name, [e["external_id"] for e in clean])
        fresh = [e for e in clean if e["external_id"] not in existing]
        stored = _store_fresh(ctx, conn, spec, current, shadow, fresh) if fresh else {}
    _count_stored(spec, stored.values())
    results = []
    for event in clean:
        ext = event["external_id"]
        if ext in existing:
            row = existing[ext]
            results.append(PredictionOut(external_id=ext, prediction_id=row.id, score=row.score, route=row.route,
                                         route_label=spec.route_label(row.route), audited=row.audited,
                                         item_id=row.item_id, model_version=row.model_version, duplicate=True))
        else:
            results.append(stored[ext])
    return results


def _fast_connection(ctx: AppContext) -> Any:
    """The single-event path's connection. PostgreSQL: autocommit — its reads are single statements, and all it
    writes is ONE statement (db.single_write), atomic by itself, so BEGIN and COMMIT would only add two round
    trips. SQLite: the usual transaction (its write is several INSERTs)."""
    return ctx.read() if ctx.engine.dialect.name == "postgresql" else ctx.engine.begin()


# How long one process reuses a model's champion and shadow for single-event ingest. Which versions serve is
# checked by the prediction's own INSERT, so a promotion or a shadow change committed by any process is obeyed
# by the next request; this bounds only how long other attributes of the same versions are reused.
SERVING_CACHE_SECONDS = 5.0


def _serving(ctx: AppContext, conn: Connection, model_name: str) -> tuple[Champion, StoredVersion | None]:
    """The model's champion and shadow as this process last read them (at most SERVING_CACHE_SECONDS ago)."""
    cached = ctx.serving_versions.get(model_name)
    now = ctx.ticks()
    if cached is not None and now - cached[0] < SERVING_CACHE_SECONDS:
        return cached[1], cached[2]
    current, shadow = serving_versions(conn, model_name)
    ctx.serving_versions[model_name] = (now, current, shadow)
    return current, shadow


def _count_stored(spec: ModelSpec, stored: Iterable[PredictionOut]) -> None:
    """Metrics for a committed batch: predictions by route, and the model's own decisions by verdict."""
    verdict_of = _verdict_of(spec)
    by_route = Counter(p.route for p in stored)  # one labelled increment per route, not per prediction
    for route, n in by_route.items():
        metrics.PREDICTIONS.labels(spec.name, route).inc(n)
        if route in verdict_of:
            metrics.DECISIONS.labels(spec.name, verdict_of[route], "automatic").inc(n)


def _verdict_of(spec: ModelSpec) -> dict[str, str]:
    """The verdict the model decides by itself on each automatic route."""
    return {Route.AUTO_FLAG.value: spec.positive_verdict, Route.AUTO_PASS.value: spec.negative_verdict}


def _store_fresh(
    ctx: AppContext, conn: Connection, spec: ModelSpec, current: Champion, shadow: StoredVersion | None,
    fresh: list[dict[str, Any]],
) -> dict[str, PredictionOut]:
    spec, policy_version = policies.routed(ctx, conn, spec)  # the active routing-policy version (cached)
    scorer = ctx.scorers.get(spec, current.id, current.artifact_path, current.sha256,
                             config=current.serving_config or {}, input_schema=current.input_schema)
    features = [e["features"] for e in fresh]
    scores = _probabilities(spec, current.version, fresh, scorer, features)
    shadow_scores = _shadow_scores(ctx, spec, shadow, features)
    now = ctx.now()
    rows = []
    for event, score, shadow_score in zip(fresh, scores, shadow_scores, strict=True):
        score = float(score)
        route = spec.routing.route(score)
        audited = route != Route.REVIEW and spec.routing.audited(event["external_id"])
        correlation = event["context"].get(spec.correlation_field) if spec.correlation_field else None
        rows.append({
            "model_name": spec.name, "external_id": event["external_id"], "version_id": current.id,
            "score": score, "route": route.value, "audited": audited, "features": event["features"],
            "context": event["context"], "correlation_key": None if correlation is None else str(correlation),
            "subject": _subject(spec, event["context"]),
            "policy_version": policy_version, "selection_probability": 1.0 if route == Route.REVIEW else 0.0,
            "shadow_version_id": shadow.id if shadow_score is not None and shadow else None,
            "shadow_score": shadow_score, "created_at": now,
        })
    # an auto-decision that may not fire one of its actions goes to a human as well (services.authority)
    refused = authority.refusals(conn, spec, rows, now)
    for row in rows:
        if row["external_id"] in refused:
            row["selection_probability"] = 1.0  # a human sees it for certain
    # sets each other auto-decision's selection_probability
    learning = _learning_draw(ctx, conn, spec, [r for r in rows if r["external_id"] not in refused], now)
    if len(rows) == 1:  # one event over HTTP: one statement on PostgreSQL (db.single_write)
        item_ids = _write_one(conn, spec, rows[0], shadow, learning, now, refused)
    else:
        for row, prediction_id in zip(rows, predictions.insert_predictions(conn, rows, shadow.id if shadow else None),
                                      strict=True):
            row["id"] = prediction_id
        item_ids = _enqueue(conn, spec, rows, learning, now, refused)
        _auto_decide(conn, spec, [r for r in rows if r["route"] != Route.REVIEW], item_ids, now, refused)
    labels = {route: spec.route_label(route) for route in {r["route"] for r in rows}}  # not once per event
    return {
        r["external_id"]: PredictionOut(external_id=r["external_id"], prediction_id=r["id"], score=r["score"],
                                        route=r["route"], route_label=labels[r["route"]],
                                        audited=r["audited"], item_id=item_ids.get(r["id"]),
                                        model_version=current.version, duplicate=False)
        for r in rows
    }


def _subject(spec: ModelSpec, context: dict[str, Any]) -> str | None:
    """Whom the event is about (its history key's value, at most 200 characters), for the related history."""
    value = context.get(spec.history_key) if spec.history_key else None
    return None if value is None else str(value)[:200]


def _probabilities(spec: ModelSpec, version: int, fresh: list[dict[str, Any]], scorer: Scorer,
                   features: list[dict[str, Any]]) -> np.ndarray:
    """The champion's scores, each a probability, or the whole batch refused naming the first event it cannot
    score. A model's output is routed, stored and may fire actions: a NaN, or a brought-in graph whose output
    leaves [0, 1] on inputs its registration probe never tried, must not pass as a score."""
    try:
        scores = np.asarray(scorer.score(features), dtype=np.float64)
    except EventNotScorable as exc:
        where = fresh[exc.row]["where"]
        field = f"{where}.{exc.field}" if exc.field else where
        raise ValidationFailed(f"{field}: {exc.message}; nothing was stored", field=field) from exc
    bad = np.flatnonzero(~np.isfinite(scores) | (scores < 0) | (scores > 1))
    if bad.size:
        where = fresh[int(bad[0])]["where"]
        log.warning("model gave a score that is not a probability; batch refused", extra={
            "action": "score_not_probability", "model": spec.name, "version": version,
            "score": str(scores[bad[0]]), "events": int(bad.size)})
        raise ValidationFailed(
            f"{where}.features: model {spec.name!r} version {version} gave {scores[bad[0]]:.6g} for this event, "
            f"not a probability in [0, 1] ({bad.size} of {scores.size} events in this batch); nothing was stored",
            field=f"{where}.features")
    return scores


def _shadow_scores(ctx: AppContext, spec: ModelSpec, shadow: StoredVersion | None,
                   features: list[dict[str, Any]]) -> list[float | None]:
    """The shadow challenger's scores, recorded beside the champion's; they route nothing, and a shadow that
    cannot score (a missing artifact, a bug) costs the live path nothing but a logged warning."""
    if shadow is None:
        return [None] * len(features)
    try:
        scorer = ctx.scorers.get(spec, shadow.id, shadow.artifact_path, shadow.sha256,
                                 config=shadow.serving_config or {}, input_schema=shadow.input_schema)
        scores = [float(s) for s in scorer.score(features)]
        if not all(0.0 <= s <= 1.0 for s in scores):  # also false for NaN
            raise ValueError(f"shadow scores outside [0, 1]: {min(scores)} … {max(scores)}")
        return list[float | None](scores)
    except Exception:
        log.warning("shadow version could not score; the champion's path goes on", exc_info=True,
                    extra={"action": "shadow_failed", "model": spec.name, "version": shadow.version})
        return [None] * len(features)


def _item_rows(spec: ModelSpec, rows: list[dict[str, Any]], learning: list[dict[str, Any]], now: Any,
               refused: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(prediction row, its review item without prediction_id) for each prediction that goes to a person:
    uncertain ones, auto-decisions with a refused action, and the audit sample of the others as review items; the
    learning draw's events as items of the learning queue, ranked by uncertainty. At most one item each."""
    wanted = [r for r in rows if r["route"] == Route.REVIEW or r["audited"] or r["external_id"] in refused]

    def kind(r: dict[str, Any]) -> str:
        return "review" if r["route"] == Route.REVIEW or r["external_id"] in refused else "audit"

    pairs = [(r, {"queue": spec.queue, "kind": kind(r), "priority": spec.priority(r["score"], r["features"]),
                  "status": "pending", "created_at": now}) for r in wanted]
    if spec.learning is not None:
        pairs += [(r, {"queue": spec.learning.queue, "kind": "learning", "priority": uncertainty(r["score"]),
                       "status": "pending", "created_at": now}) for r in learning]
    return pairs


def _enqueue(conn: Connection, spec: ModelSpec, rows: list[dict[str, Any]], learning: list[dict[str, Any]],
             now: Any, refused: Mapping[str, Any]) -> dict[int, int]:
    """Write the batch's review items (_item_rows); prediction id → item id."""
    pairs = _item_rows(spec, rows, learning, now, refused)
    if not pairs:
        return {}
    ids = items.insert_items(conn, [{**item, "prediction_id": r["id"]} for r, item in pairs])
    return {r["id"]: item_id for (r, _item), item_id in zip(pairs, ids, strict=True)}


def _write_one(conn: Connection, spec: ModelSpec, row: dict[str, Any], shadow: StoredVersion | None,
               learning: list[dict[str, Any]], now: Any, refused: Mapping[str, Mapping[int, str]]) -> dict[int, int]:
    """One event's prediction, its item, the model's decision and that decision's actions, written together
    (db.single_write: one statement on PostgreSQL). Sets row["id"]; returns prediction id → item id."""
    found = [i for _r, i in _item_rows(spec, [row], learning, now, refused)]
    if len(found) > 1:  # the learning draw takes no audited or refused event: a second item would be a bug
        raise RuntimeError(f"{row['external_id']}: {len(found)} review items for one prediction")
    item = found[0] if found else None
    decision = _decision_row(spec, row, now) if row["route"] != Route.REVIEW else None
    actions: list[dict[str, Any]] = []
    if decision is not None:
        # the ids (prediction, decision, item) are set in the rows and the payload as the rows get them
        payload = action_payload(spec=spec, prediction={**row, "id": None}, verdict=decision["verdict"],
                                 source="model", actor=decision["actor"], item_id=None, decision_id=0)
        actions = outbox_rows(spec, decision["verdict"], 0, payload, now, refused.get(row["external_id"]))
    written = single_write.write_prediction(conn, row, shadow.id if shadow else None, item, decision, actions)
    row["id"] = written.prediction_id
    return {} if written.item_id is None else {written.prediction_id: written.item_id}


# How long one process reuses its estimate of a day's auto-decided uncertainty (one indexed aggregate per model).
DAY_ESTIMATE_TTL_SECONDS = 300.0


def _learning_draw(ctx: AppContext, conn: Connection, spec: ModelSpec, rows: list[dict[str, Any]],
                   now: datetime) -> list[dict[str, Any]]:
    """Draw the learning sample by probability (domain.sampling) and record on every auto-decided row the
    probability π = a + (1 − a)·p that it was sent to a human by the audit or the draw. Returns the drawn rows
    that become learning items (audited ones are already going to a human)."""
    audit = spec.routing.audit_fraction
    auto = [r for r in rows if r["route"] != Route.REVIEW]
    if spec.learning is None or not auto:
        for r in auto:
            r["selection_probability"] = audit
        return []
    left = budget_left(spec.learning.budget_per_day,
                       items.count_created_since(conn, spec.learning.queue, start_of_utc_day(now)))
    scale = learning_scale(spec.learning.budget_per_day, _day_uncertainty(ctx, conn, spec, auto, now))
    taken: list[dict[str, Any]] = []
    for r in auto:
        p = learning_probability(r["score"], scale) if left > 0 else 0.0  # the day's budget is a hard cap
        r["selection_probability"] = inclusion_probability(audit, p)
        if not r["audited"] and drawn(f"learning:{spec.name}:{r['external_id']}", p):
            taken.append(r)
            left -= 1
    return taken


def _day_uncertainty(ctx: AppContext, conn: Connection, spec: ModelSpec, batch: list[dict[str, Any]],
                     now: datetime) -> float:
    """U_day for this model: from the last 24 hours of its auto-decided predictions, cached for a few minutes."""
    batch_mass = sum(uncertainty(r["score"]) for r in batch)
    cached = ctx.day_uncertainty.get(spec.name)
    if cached is not None and timedelta(0) <= now - cached[0] < timedelta(seconds=DAY_ESTIMATE_TTL_SECONDS):
        mass, seconds = cached[1], cached[2]
    else:
        mass, oldest = predictions.auto_decided_uncertainty_since(conn, spec.name, now - timedelta(days=1))
        seconds = (now - oldest).total_seconds() if oldest is not None else 0.0
        ctx.day_uncertainty[spec.name] = (now, mass, seconds)
    return daily_uncertainty(mass, seconds, batch_mass)


def _auto_decide(
    conn: Connection, spec: ModelSpec, rows: list[dict[str, Any]], item_ids: dict[int, int], now: Any,
    refused: Mapping[str, Mapping[int, str]],
) -> None:
    """Confident predictions are decided by the model: a decision (source=model) and its actions, same commit;
    the actions it may not fire are written refused, with the reason (services.authority). The common case — no
    review item, nothing refused — is written by the database from the stored predictions (db.model_decisions);
    the rest row by row here."""
    if not rows:
        return
    plain = [r["id"] for r in rows if r["id"] not in item_ids and r["external_id"] not in refused]
    if plain:
        verdict_of = _verdict_of(spec)
        model_decisions.write_model_decisions(
            conn, plain, verdict_of_route=verdict_of, actor=_model_actor(spec), now=now,
            actions={v: [(a.connector, a.params) for a in spec.actions_for(v)] for v in verdict_of.values()})
    rows = [r for r in rows if r["id"] in item_ids or r["external_id"] in refused]
    if not rows:
        return
    decision_rows = [_decision_row(spec, r, now) for r in rows]
    decision_ids = decisions.insert_decisions(conn, decision_rows)
    actions: list[dict[str, Any]] = []
    for row, decision, decision_id in zip(rows, decision_rows, decision_ids, strict=True):
        payload = action_payload(spec=spec, prediction=row, verdict=decision["verdict"], source="model",
                                 actor=decision["actor"], item_id=item_ids.get(row["id"]), decision_id=decision_id)
        actions.extend(outbox_rows(spec, decision["verdict"], decision_id, payload, now,
                                   refused.get(row["external_id"])))
    outbox.insert_actions(conn, actions)


def _decision_row(spec: ModelSpec, row: dict[str, Any], now: Any) -> dict[str, Any]:
    """The model's own decision on an auto-routed prediction (source=model)."""
    return {"prediction_id": row.get("id"), "item_id": None, "verdict": _verdict_of(spec)[row["route"]],
            "source": DecisionSource.MODEL.value, "actor": _model_actor(spec), "note": "", "created_at": now}


def _model_actor(spec: ModelSpec) -> str:
    return f"model:{spec.name}"
