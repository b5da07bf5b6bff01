"""Model versions: the champion lookup serving uses, the listing the UI shows, promotion and rollback by a
person (recorded as a run with who and why), and scoring rows with any version without storing anything.

The statements live in ``reviewqueue.db.versions`` and ``reviewqueue.db.runs``.
"""

from __future__ import annotations

import logging
from typing import Any

from reviewqueue.db import labels, predictions, runs, versions
from reviewqueue.db.versions import Champion, StoredVersion, champion, find_champion, list_versions
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.states import RunStatus, VersionStatus
from reviewqueue.errors import BatchTooLarge, Conflict, NotFound, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.schemas import RunOut, ScoreOut, ShadowOut, VersionOut
from reviewqueue.services import audit, policies
from reviewqueue.services.context import AppContext

__all__ = ["Champion", "champion", "find_champion", "model_versions", "promote", "rollback", "score_rows",
           "shadow_report", "start_shadow", "stop_shadow"]
log = logging.getLogger(__name__)


def model_versions(ctx: AppContext, model_name: str) -> list[VersionOut]:
    """Every version of a registered model, newest first (NotFound for an unknown model)."""
    ctx.registry.model(model_name)
    with ctx.read() as conn:
        return list_versions(conn, model_name)


def promote(ctx: AppContext, actor: Actor, model_name: str, version: int, reason: str) -> RunOut:
    """Serve ``version`` from the next request on, whatever its evaluation said (a person's call: the run
    records who and why); 409 if it already serves."""
    authorize(actor, Permission.MODELS_PROMOTE)
    ctx.registry.model(model_name)
    with ctx.engine.begin() as conn:
        target = _version(conn, model_name, version)
        if target.status == VersionStatus.CHAMPION:
            raise Conflict(f"model {model_name!r} version {version} already serves", field="version")
        return _switch(ctx, conn, actor, model_name, target, "promote", reason)


def rollback(ctx: AppContext, actor: Actor, model_name: str, reason: str) -> RunOut:
    """Serve again the version that served before the current champion; 409 when there is none."""
    authorize(actor, Permission.MODELS_PROMOTE)
    ctx.registry.model(model_name)
    with ctx.engine.begin() as conn:
        current = find_champion(conn, model_name)
        target = versions.previous_champion(conn, model_name, current.id if current else None)
        if target is None:
            raise Conflict(f"model {model_name!r} has no earlier champion to roll back to")
        return _switch(ctx, conn, actor, model_name, target, "rollback", reason)


def _version(conn: Any, model_name: str, version: int) -> StoredVersion:
    found = versions.version_by_number(conn, model_name, version)
    if found is None:
        raise NotFound(f"model {model_name!r} has no version {version}", field="version")
    return found


def _switch(ctx: AppContext, conn: Any, actor: Actor, model_name: str, target: StoredVersion, trigger: str,
            reason: str) -> RunOut:
    _reason(reason)
    current = find_champion(conn, model_name)
    versions.make_champion(conn, model_name, target.id, ctx.now())
    was = f"v{current.version}" if current else "nothing"
    return _record(ctx, conn, actor, model_name, target.id, trigger, RunStatus.PROMOTED,
                   f"{trigger}: v{target.version} serves instead of {was}, by {actor.name}: {reason.strip()}",
                   champion_id=current.id if current else None)


def score_rows(ctx: AppContext, actor: Actor, model_name: str, version: int, rows: Any) -> ScoreOut:
    """Score validated feature rows with any version: nothing stored, nothing routed (``would_route`` says
    where today's policy would send each row)."""
    authorize(actor, Permission.VERSIONS_SCORE)
    spec = ctx.registry.model(model_name)
    if not isinstance(rows, list) or not rows:
        raise ValidationFailed("features: a non-empty list of rows", field="features")
    if len(rows) > ctx.settings.batch_limit:
        raise BatchTooLarge(f"features: {len(rows)} rows is over the batch limit of {ctx.settings.batch_limit}",
                            field="features")
    clean = [spec.features.validate(row, where=f"features[{i}]") for i, row in enumerate(rows)]
    with ctx.read() as conn:
        target = _version(conn, model_name, version)
    scorer = ctx.scorers.get(spec, target.id, target.artifact_path, target.sha256, config=target.serving_config or {},
                             input_schema=target.input_schema)
    scores = [float(s) for s in scorer.score(clean)]
    with ctx.read() as conn:  # the policy routing now: an applied routing-policy version, else the decorator's
        routing = policies.routed(ctx, conn, spec)[0].routing
    return ScoreOut(model=model_name, version=version, scores=scores,
                    would_route=[routing.route(s).value for s in scores])


def start_shadow(ctx: AppContext, actor: Actor, model_name: str, version: int, reason: str) -> RunOut:
    """``version`` scores live traffic beside the champion from the next request on, routing nothing; its figures
    are compared with the champion's as labels arrive (``shadow_report``). Any earlier shadow stops."""
    authorize(actor, Permission.MODELS_PROMOTE)
    ctx.registry.model(model_name)
    with ctx.engine.begin() as conn:
        target = _version(conn, model_name, version)
        if target.status == VersionStatus.CHAMPION:
            raise Conflict(f"model {model_name!r} version {version} serves: it cannot also shadow", field="version")
        _reason(reason)
        versions.set_shadow(conn, model_name, target.id)
        current = find_champion(conn, model_name)
        return _record(ctx, conn, actor, model_name, target.id, "shadow_start", RunStatus.RECORDED,
                       f"shadow: v{target.version} scores beside the champion, by {actor.name}: {reason.strip()}",
                       champion_id=current.id if current else None)


def stop_shadow(ctx: AppContext, actor: Actor, model_name: str, reason: str) -> RunOut:
    """The shadow version stops scoring; 409 when none runs."""
    authorize(actor, Permission.MODELS_PROMOTE)
    ctx.registry.model(model_name)
    _reason(reason)
    with ctx.engine.begin() as conn:
        stopped = versions.stop_shadow(conn, model_name)
        if stopped is None:
            raise Conflict(f"model {model_name!r} has no version in shadow")
        current = find_champion(conn, model_name)
        return _record(ctx, conn, actor, model_name, stopped.id, "shadow_stop", RunStatus.RECORDED,
                       f"shadow stopped: v{stopped.version}, by {actor.name}: {reason.strip()}",
                       champion_id=current.id if current else None)


def shadow_report(ctx: AppContext, model_name: str) -> ShadowOut:
    """The shadow vs the champion on the labelled predictions both scored: weighted AUCs (1/π), the difference
    and its paired-bootstrap interval (reviewqueue.evaluation)."""
    from reviewqueue.evaluation import label_weights, paired_bootstrap

    spec = ctx.registry.model(model_name)
    with ctx.read() as conn:
        current, shadow = versions.serving_versions(conn, model_name)
        if shadow is None:
            return ShadowOut(model=model_name, shadow_version=None, champion_version=current.version, scored=0,
                             labelled=0, positives=0, champion_auc=None, shadow_auc=None, difference=None, low=None,
                             high=None, summary="no version is in shadow")
        scored = predictions.count_shadow_scored(conn, model_name, shadow.id)
        rows = list(best_label_per_prediction(labels.labels_with_shadow_scores(conn, model_name, shadow.id)).values())
    import numpy as np

    y = np.array([r.value == spec.positive_verdict for r in rows], dtype=int)
    comparison = paired_bootstrap(y, np.array([r.shadow_score for r in rows], dtype=np.float64),
                                  np.array([r.score for r in rows], dtype=np.float64),
                                  label_weights([r.selection_probability for r in rows]))
    if comparison.difference is None or comparison.low is None or comparison.high is None:
        summary = (f"v{shadow.version} in shadow scored {scored} prediction{'' if scored == 1 else 's'}; "
                   f"{len(rows)} carry a label "
                   f"({comparison.positives} positive): both classes are needed to compare")
    else:
        summary = (f"v{shadow.version} vs champion v{current.version}: {comparison.difference:+.3f} AUC "
                   f"[{comparison.low:+.3f}, {comparison.high:+.3f}] on {len(rows)} labels "
                   f"({comparison.positives} positive), weighted")
    return ShadowOut(model=model_name, shadow_version=shadow.version, champion_version=current.version,
                     scored=scored, labelled=len(rows), positives=comparison.positives,
                     champion_auc=comparison.champion, shadow_auc=comparison.candidate,
                     difference=comparison.difference, low=comparison.low, high=comparison.high, summary=summary)


def _reason(reason: str) -> None:
    if not reason.strip() or len(reason) > 500:
        raise ValidationFailed("reason: 1 to 500 characters saying why", field="reason")
    check_storable(reason, "reason")


def _record(ctx: AppContext, conn: Any, actor: Actor, model_name: str, version_id: int, trigger: str,
            status: RunStatus, decision: str, champion_id: int | None) -> RunOut:
    """A change by hand, recorded as a run: who, why, which version, and what served when it was made."""
    now = ctx.now()
    run_id = runs.insert_run(conn, model_name=model_name, trigger=trigger, label_ids=[], max_label_id=0,
                             champion_version_id=champion_id, started_at=now)
    runs.finish_run(conn, run_id, status=status, candidate_version_id=version_id, candidate_metrics={},
                    champion_metrics={}, finished_at=now, duration_seconds=0.0, decision=decision)
    log.warning("model versions changed by hand", extra={"action": f"version_{trigger}", "model": model_name,
                                                         "actor": actor.name, "run_id": run_id})
    audit.record(ctx, conn, actor, f"model.{trigger}", f"model:{model_name}",
                 {"run_id": run_id, "version_id": version_id, "decision": decision})
    return runs.get_run(conn, run_id)
