"""Model monitoring over HTTP: daily input and score drift against the training reference, and calibration.
(The operations half of the Monitor page — thresholds, reviewers, queue health — has its own routes.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reviewqueue.api.deps import Ctx, CurrentActor, OptionalDbIdQuery
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import CalibrationReport, DriftReport
from reviewqueue.services import calibration, drift

router = APIRouter(prefix="/v1/models", tags=["monitoring"])


@router.get("/{model}/drift", response_model=DriftReport)
def model_drift(model: str, ctx: Ctx, actor: CurrentActor,
                days: Annotated[int, Query(ge=1, le=drift.MAX_DAYS)] = 14) -> DriftReport:
    """PSI per input and for the score, per UTC day over the last ``days`` (today included), of the champion's
    traffic against its training reference, each with its sample size and 95% interval; the score's
    distribution over the window beside the reference's."""
    authorize(actor, Permission.VERSIONS_READ)
    return drift.drift_report(ctx, model, days)


@router.get("/{model}/calibration", response_model=CalibrationReport)
def model_calibration(model: str, ctx: Ctx, actor: CurrentActor,
                      version: OptionalDbIdQuery = None) -> CalibrationReport:
    """Reliability diagram (ten score bins: mean score vs observed positive share with Wilson 95% intervals),
    Brier score and ECE of a version's labelled predictions (the champion's unless ``version`` is given)."""
    authorize(actor, Permission.VERSIONS_READ)
    return calibration.calibration_report(ctx, model, version)
