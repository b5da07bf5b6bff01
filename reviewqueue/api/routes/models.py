"""Models over HTTP: the registered models, their versions, training runs and per-version quality; retrain."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks

from reviewqueue.api.deps import Ctx, CurrentActor, DbId
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import (
    ModelOut,
    PromoteRequest,
    RunOut,
    ScoreOut,
    ScoreRequest,
    ServingProfileOut,
    ShadowOut,
    VersionOut,
    VersionQuality,
)
from reviewqueue.services import audit, model_bench, models, quality, training, versions

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(ctx: Ctx, actor: CurrentActor) -> list[ModelOut]:
    """Registered models: input schema, queue, verdicts, champion version, labels since the last run."""
    authorize(actor, Permission.MODELS_READ)
    return models.list_models(ctx)


@router.get("/{model}/versions", response_model=list[VersionOut])
def list_versions(model: str, ctx: Ctx, actor: CurrentActor) -> list[VersionOut]:
    authorize(actor, Permission.VERSIONS_READ)
    return versions.model_versions(ctx, model)


@router.get("/{model}/versions/{version}/quality", response_model=VersionQuality)
def version_quality(model: str, version: DbId, ctx: Ctx, actor: CurrentActor) -> VersionQuality:
    """Labels used, held-out precision/recall/AUC, and precision at k of this version's labelled predictions."""
    authorize(actor, Permission.VERSIONS_READ)
    return quality.version_quality(ctx, model, version)


@router.get("/{model}/versions/{version}/serving-profile", response_model=ServingProfileOut)
def serving_profile(model: str, version: DbId, ctx: Ctx, actor: CurrentActor) -> ServingProfileOut:
    """What `reviewqueue bench-model` measured for this version, and the serving config applied from it."""
    authorize(actor, Permission.VERSIONS_READ)
    profile, config = model_bench.serving_profile(ctx, model, version)
    return ServingProfileOut(model=model, version=version, profile=profile, config=config)


@router.get("/{model}/runs", response_model=list[RunOut])
def list_runs(model: str, ctx: Ctx, actor: CurrentActor) -> list[RunOut]:
    authorize(actor, Permission.VERSIONS_READ)
    ctx.registry.model(model)
    return training.list_runs(ctx, model)


@router.post("/{model}/retrain", response_model=RunOut, status_code=202)
def retrain(model: str, ctx: Ctx, actor: CurrentActor, background: BackgroundTasks) -> RunOut:
    """Start a retrain on base data + labels and answer at once (202) with the running run; poll
    GET …/runs/{run_id} for its stage and progress, then its decision. 409 while one of this model runs."""
    authorize(actor, Permission.MODELS_RETRAIN)
    spec = ctx.registry.model(model)
    started = training.start_run(ctx, spec, trigger="manual")
    audit.record_now(ctx, actor, "model.retrain", f"model:{model}", {"run_id": started.run_id, "status": "started"})
    background.add_task(training.continue_run, ctx, spec, started)  # after the response, in this process
    return training.get_run(ctx, started.run_id)


@router.get("/{model}/runs/{run_id}", response_model=RunOut)
def get_run(model: str, run_id: DbId, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """One training run: while running, its stage and fraction done; then its decision in words."""
    authorize(actor, Permission.VERSIONS_READ)
    return training.run_of_model(ctx, model, run_id)


@router.post("/{model}/versions/{version}/promote", response_model=RunOut)
def promote(model: str, version: DbId, body: PromoteRequest, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """Serve this version from the next request on (admin, data scientist); recorded as a run with who and why."""
    authorize(actor, Permission.MODELS_PROMOTE)
    return versions.promote(ctx, actor, model, version, body.reason)


@router.post("/{model}/rollback", response_model=RunOut)
def rollback(model: str, body: PromoteRequest, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """Serve again the version that served before the current champion; recorded with who and why."""
    authorize(actor, Permission.MODELS_PROMOTE)
    return versions.rollback(ctx, actor, model, body.reason)


@router.post("/{model}/versions/{version}/score", response_model=ScoreOut)
def score(model: str, version: DbId, body: ScoreRequest, ctx: Ctx, actor: CurrentActor) -> ScoreOut:
    """Score rows with any version: no prediction is stored and nothing is routed (what-if, comparisons)."""
    authorize(actor, Permission.VERSIONS_SCORE)
    return versions.score_rows(ctx, actor, model, version, body.features)


@router.post("/{model}/versions/{version}/shadow", response_model=RunOut)
def start_shadow(model: str, version: DbId, body: PromoteRequest, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """Score live traffic with this version beside the champion; it routes nothing (admin, data scientist)."""
    authorize(actor, Permission.MODELS_PROMOTE)
    return versions.start_shadow(ctx, actor, model, version, body.reason)


@router.post("/{model}/shadow/stop", response_model=RunOut)
def stop_shadow(model: str, body: PromoteRequest, ctx: Ctx, actor: CurrentActor) -> RunOut:
    authorize(actor, Permission.MODELS_PROMOTE)
    return versions.stop_shadow(ctx, actor, model, body.reason)


@router.get("/{model}/shadow", response_model=ShadowOut)
def shadow_report(model: str, ctx: Ctx, actor: CurrentActor) -> ShadowOut:
    """The shadow version against the champion on the labelled predictions both scored (weighted AUC, interval)."""
    authorize(actor, Permission.VERSIONS_READ)
    return versions.shadow_report(ctx, model)
