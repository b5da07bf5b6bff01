"""Models over HTTP: the registered models, their versions, training runs and per-version quality; retrain."""

from __future__ import annotations

from fastapi import APIRouter

from reviewqueue.api.deps import Ctx, CurrentActor, DbId
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import ModelOut, RunOut, VersionOut, VersionQuality
from reviewqueue.services import models, quality, training, versions

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


@router.get("/{model}/runs", response_model=list[RunOut])
def list_runs(model: str, ctx: Ctx, actor: CurrentActor) -> list[RunOut]:
    authorize(actor, Permission.VERSIONS_READ)
    ctx.registry.model(model)
    return training.list_runs(ctx, model)


@router.post("/{model}/retrain", response_model=RunOut)
def retrain(model: str, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """Retrain now on base data + labels; promoted only if not worse than the champion."""
    authorize(actor, Permission.MODELS_RETRAIN)
    spec = ctx.registry.model(model)
    result = training.train_version(ctx, spec, trigger="manual")
    return next(r for r in training.list_runs(ctx, model) if r.id == result.run_id)
