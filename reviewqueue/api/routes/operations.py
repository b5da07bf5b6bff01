"""Operations over HTTP: routing-policy versions (apply, re-activate, roll back), the threshold what-if, reviewer
statistics and queue health over time. Thin: authorize → one service call (services.policies, .operations)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reviewqueue.api.deps import Ctx, CurrentActor, DbId
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import (
    PolicyChangeIn,
    QueueHealthOut,
    ReviewersOut,
    RoutingPoliciesOut,
    RoutingPolicyIn,
    RoutingPolicyOut,
    WhatIfOut,
)
from reviewqueue.services import operations, policies

router = APIRouter(prefix="/v1/models", tags=["operations"])

Threshold = Annotated[float, Query(ge=0.0, le=1.0, allow_inf_nan=False)]
Days = Annotated[int, Query(ge=1, le=366)]  # each figure's own limit is checked by its service (422 naming days)


@router.get("/{model}/routing-policies", response_model=RoutingPoliciesOut)
def routing_policies(model: str, ctx: Ctx, actor: CurrentActor) -> RoutingPoliciesOut:
    """The policy routing the model now, the decorator's (what a rollback returns to) and every stored version."""
    authorize(actor, Permission.VERSIONS_READ)
    return policies.policies(ctx, actor, model)


@router.post("/{model}/routing-policies", response_model=RoutingPolicyOut, status_code=201)
def apply_routing_policy(model: str, body: RoutingPolicyIn, ctx: Ctx, actor: CurrentActor) -> RoutingPolicyOut:
    """Admin: store these thresholds as the next routing-policy version and route with it (recorded, with the
    what-if figures of the last 7 days). Other processes pick it up within ``staleness_seconds``."""
    authorize(actor, Permission.POLICIES_APPLY)
    return policies.apply(ctx, actor, model, body.review_low, body.review_high, body.audit_fraction, body.reason)


@router.post("/{model}/routing-policies/{version}/activate", response_model=RoutingPolicyOut)
def activate_routing_policy(model: str, version: DbId, body: PolicyChangeIn, ctx: Ctx,
                            actor: CurrentActor) -> RoutingPolicyOut:
    """Admin: route with an earlier stored version again (recorded)."""
    authorize(actor, Permission.POLICIES_APPLY)
    return policies.activate(ctx, actor, model, version, body.reason)


@router.post("/{model}/routing-policies/rollback", response_model=RoutingPolicyOut)
def rollback_routing_policy(model: str, body: PolicyChangeIn, ctx: Ctx, actor: CurrentActor) -> RoutingPolicyOut:
    """Admin: route with the model's decorator policy again; 409 if it already does (recorded)."""
    authorize(actor, Permission.POLICIES_APPLY)
    return policies.rollback(ctx, actor, model, body.reason)


@router.get("/{model}/what-if", response_model=WhatIfOut)
def what_if(model: str, review_low: Threshold, review_high: Threshold, ctx: Ctx, actor: CurrentActor,
            days: Days = 7) -> WhatIfOut:
    """Expected daily volumes per route, and 1/π-weighted recall / precision with 95% intervals, had these
    thresholds routed the champion's last ``days`` days."""
    authorize(actor, Permission.VERSIONS_READ)
    return operations.what_if(ctx, actor, model, review_low, review_high, days)


@router.get("/{model}/reviewer-stats", response_model=ReviewersOut)
def reviewer_stats(model: str, ctx: Ctx, actor: CurrentActor, days: Days = 7) -> ReviewersOut:
    """Admin: per reviewer, decisions per day, claim → decision time, agreement and overturn rates, each with n."""
    authorize(actor, Permission.REVIEWERS_READ)
    return operations.reviewer_stats(ctx, actor, model, days)


@router.get("/{model}/queue-health", response_model=QueueHealthOut)
def queue_health(model: str, ctx: Ctx, actor: CurrentActor, days: Days = 2, step: str = "hour") -> QueueHealthOut:
    """Open items and the oldest one's age per queue of the model, hourly or daily, from item timestamps."""
    authorize(actor, Permission.QUEUES_READ)
    return operations.queue_health(ctx, actor, model, days, step)
