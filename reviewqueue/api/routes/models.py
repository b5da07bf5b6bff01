from __future__ import annotations

from fastapi import APIRouter

from reviewqueue.api.deps import Ctx, CurrentActor, DbId
from reviewqueue.domain.states import Role
from reviewqueue.schemas import (
    ModelOut,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RunOut,
    VersionOut,
    VersionQuality,
)
from reviewqueue.services import ingest, quality, training, versions

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post("/{model}/predictions", response_model=PredictResponse)
def predict(model: str, body: PredictRequest, ctx: Ctx, actor: CurrentActor) -> PredictResponse:
    """Score one event or a batch; uncertain ones become review items. Idempotent on external_id."""
    events = [e.model_dump() for e in body.events]
    results = ingest.ingest(ctx, actor, model, events)
    return PredictResponse(model=model, predictions=[PredictionOut(**r.__dict__) for r in results])


@router.get("", response_model=list[ModelOut])
def list_models(ctx: Ctx, actor: CurrentActor) -> list[ModelOut]:
    out = []
    with ctx.engine.connect() as conn:
        champions = {spec.name: versions.find_champion(conn, spec.name) for spec in ctx.registry.models()}
    for spec in ctx.registry.models():
        champ = champions[spec.name]
        out.append(ModelOut(
            name=spec.name, description=spec.description, queue=spec.queue, verdicts=list(spec.verdicts),
            features=spec.features.to_json(), champion_version=champ.version if champ else None,
            labels_since_last_run=training.labels_since_last_run(ctx, spec.name),
            retrain_min_new_labels=spec.retrain.min_new_labels, retrain_cron=spec.retrain.cron,
        ))
    return out


@router.get("/{model}/versions", response_model=list[VersionOut])
def list_versions(model: str, ctx: Ctx, actor: CurrentActor) -> list[VersionOut]:
    ctx.registry.model(model)
    with ctx.engine.connect() as conn:
        return [VersionOut(**v) for v in versions.list_versions(conn, model)]


@router.get("/{model}/versions/{version}/quality", response_model=VersionQuality)
def version_quality(model: str, version: DbId, ctx: Ctx, actor: CurrentActor) -> VersionQuality:
    """Labels used, held-out precision/recall/AUC, and precision at k of this version's labelled predictions."""
    actor.require(Role.ADMIN, Role.DATA_SCIENTIST)
    return VersionQuality(**quality.version_quality(ctx, model, version))


@router.get("/{model}/runs", response_model=list[RunOut])
def list_runs(model: str, ctx: Ctx, actor: CurrentActor) -> list[RunOut]:
    ctx.registry.model(model)
    return [RunOut(**r) for r in training.list_runs(ctx, model)]


@router.post("/{model}/retrain", response_model=RunOut)
def retrain(model: str, ctx: Ctx, actor: CurrentActor) -> RunOut:
    """Retrain now on base data + labels; promoted only if not worse than the champion."""
    actor.require(Role.ADMIN, Role.DATA_SCIENTIST)
    spec = ctx.registry.model(model)
    result = training.train_version(ctx, spec, trigger="manual")
    return next(RunOut(**r) for r in training.list_runs(ctx, model) if r["id"] == result.run_id)
