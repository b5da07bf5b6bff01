"""Routing-policy versions: which thresholds route a model's next predictions, and how an admin changes them.

A model's policy comes from its decorator (``ModelSpec.routing``, recorded as ``spec.policy_version``) until an
admin applies a stored version (review_low, review_high, audit_fraction; numbered per model, with who, when, why
and the what-if figures it was applied on). At most one stored version is active; rolling back deactivates it and
the decorator's policy routes again. Every change is in the audit log, in the change's own commit.

**Staleness.** Ingest resolves the policy through ``routed``: a per-process cache entry per model, read from
the database at most once per ``Settings.routing_policy_cache_seconds`` (default 5 s) — never a query per
prediction or per batch. A change made through this process is seen by its next batch (the entry is dropped); any
other process (another API worker, the worker, another host) routes with the new policy at most
``routing_policy_cache_seconds`` after the change commits.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from reviewqueue.db import operations as ops
from reviewqueue.db.versions import find_champion
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.policies import RoutingPolicy
from reviewqueue.domain.whatif import check_thresholds
from reviewqueue.errors import Conflict, NotFound, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import RoutingPoliciesOut, RoutingPolicyOut
from reviewqueue.services import audit, whatif
from reviewqueue.services.context import AppContext

__all__ = ["EVIDENCE_DAYS", "activate", "apply", "effective", "policies", "rollback", "routed"]

log = logging.getLogger(__name__)

EVIDENCE_DAYS = 7  # the what-if window recorded with a newly applied version


def effective(spec: ModelSpec, row: ops.PolicyRow | None) -> tuple[RoutingPolicy, str]:
    """The policy a stored version (or, for None, the decorator) routes with, and the version predictions record."""
    if row is None:
        return spec.routing, spec.policy_version
    return replace(spec.routing, review_low=row.review_low, review_high=row.review_high,
                   audit_fraction=row.audit_fraction), row.policy_version


def routed(ctx: AppContext, conn: Connection, spec: ModelSpec) -> tuple[ModelSpec, str]:
    """``spec`` with the policy routing its predictions now (its ``routing``), and the policy version they record,
    from this process's cache (module docstring: staleness). One indexed read per model per cache period."""
    now = ctx.ticks()
    cached = ctx.routing_policies.get(spec.name)
    if cached is not None and cached[1] is spec and now - cached[0] < ctx.settings.routing_policy_cache_seconds:
        return cached[2], cached[3]
    policy, version = effective(spec, ops.active_policy(conn, spec.name))
    routed_spec = spec if policy is spec.routing else replace(spec, routing=policy)
    ctx.routing_policies[spec.name] = (now, spec, routed_spec, version)
    return routed_spec, version


def _out(spec: ModelSpec, row: ops.PolicyRow | None, active: bool) -> RoutingPolicyOut:
    policy, version = effective(spec, row)
    return RoutingPolicyOut(
        model=spec.name, version=row.version if row else None, source="stored" if row else "decorator",
        review_low=policy.review_low, review_high=policy.review_high, audit_fraction=policy.audit_fraction,
        policy_version=version, actor=row.actor if row else None, reason=row.reason if row else None,
        active=active, created_at=row.created_at if row else None, evidence=row.evidence if row else {})


def policies(ctx: AppContext, actor: Actor, model_name: str) -> RoutingPoliciesOut:
    """The active policy, the decorator's, and every stored version, newest first (read from the database)."""
    authorize(actor, Permission.VERSIONS_READ)
    spec = ctx.registry.model(model_name)
    with ctx.read() as conn:
        rows = ops.list_policies(conn, spec.name)
    active = next((r for r in rows if r.active), None)
    return RoutingPoliciesOut(
        model=spec.name, active=_out(spec, active, True), decorator=_out(spec, None, active is None),
        versions=[_out(spec, r, r.active) for r in rows],
        staleness_seconds=ctx.settings.routing_policy_cache_seconds)


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise ValidationFailed("reason: say why, in 1 to 2000 characters", field="reason")
    check_storable(reason, "reason")
    return reason


def apply(ctx: AppContext, actor: Actor, model_name: str, review_low: Any, review_high: Any,
          audit_fraction: Any, reason: Any) -> RoutingPolicyOut:
    """Store thresholds as the model's next policy version and make it the active one (admin only); the
    what-if figures at those thresholds over the last ``EVIDENCE_DAYS`` days are stored with it."""
    authorize(actor, Permission.POLICIES_APPLY)
    spec = ctx.registry.model(model_name)
    problem = check_thresholds(review_low, review_high)
    if problem:
        raise ValidationFailed(problem, field=problem.partition(":")[0])
    reason = _reason(reason)
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            current, _ = effective(spec, ops.active_policy(conn, spec.name))
            audit_share = current.audit_fraction if audit_fraction is None else audit_fraction
            if isinstance(audit_share, bool) or not isinstance(audit_share, int | float) \
                    or not 0.0 <= audit_share <= 1.0:
                raise ValidationFailed("audit_fraction: a number between 0 and 1", field="audit_fraction")
            policy = replace(spec.routing, review_low=float(review_low), review_high=float(review_high),
                             audit_fraction=float(audit_share))
            champion = find_champion(conn, spec.name)
            figures = (whatif.evidence(whatif.figures(conn, spec, champion, policy.review_low, policy.review_high,
                                                      policy.audit_fraction, EVIDENCE_DAYS, now))
                       if champion is not None else {})
            number = ops.next_policy_number(conn, spec.name)
            version = f"v{number}:{replace(spec, routing=policy).policy_version}"
            ops.deactivate_policies(conn, spec.name)
            ops.insert_policy(conn, model_name=spec.name, version=number, review_low=policy.review_low,
                              review_high=policy.review_high, audit_fraction=policy.audit_fraction,
                              policy_version=version, actor=actor.name, reason=reason, evidence=figures, active=True,
                              created_at=now)
            audit.record(ctx, conn, actor, "routing_policy.apply", f"model:{spec.name}",
                         {"version": number, "policy_version": version, "review_low": policy.review_low,
                          "review_high": policy.review_high, "audit_fraction": policy.audit_fraction,
                          "reason": reason})
            row = ops.active_policy(conn, spec.name)
    except IntegrityError as exc:  # another admin's change committed first (the number or the active slot)
        raise Conflict(f"model {spec.name!r}: another routing-policy change was made at the same time; "
                       "look again and retry", field="model") from exc
    ctx.routing_policies.pop(spec.name, None)  # this process routes with it from its next batch
    log.info("routing policy applied", extra={"action": "routing_policy_applied", "model": spec.name,
                                              "version": number, "actor": actor.name})
    return _out(spec, row, True)


def activate(ctx: AppContext, actor: Actor, model_name: str, version: int, reason: Any) -> RoutingPolicyOut:
    """Make an earlier stored version the active policy again (admin only; recorded)."""
    authorize(actor, Permission.POLICIES_APPLY)
    spec = ctx.registry.model(model_name)
    reason = _reason(reason)
    with ctx.engine.begin() as conn:
        ops.deactivate_policies(conn, spec.name)
        if not ops.activate_policy(conn, spec.name, version):
            raise NotFound(f"model {spec.name!r} has no routing-policy version {version}", field="version")
        row = ops.active_policy(conn, spec.name)
        audit.record(ctx, conn, actor, "routing_policy.activate", f"model:{spec.name}",
                     {"version": version, "policy_version": row.policy_version if row else None, "reason": reason})
    ctx.routing_policies.pop(spec.name, None)
    return _out(spec, row, True)


def rollback(ctx: AppContext, actor: Actor, model_name: str, reason: Any) -> RoutingPolicyOut:
    """Back to the decorator's policy: no stored version routes any more (admin only; recorded). 409 when the
    decorator's policy is already the one routing."""
    authorize(actor, Permission.POLICIES_APPLY)
    spec = ctx.registry.model(model_name)
    reason = _reason(reason)
    with ctx.engine.begin() as conn:
        if not ops.deactivate_policies(conn, spec.name):
            raise Conflict(f"model {spec.name!r} already routes with its decorator's policy", field="model")
        audit.record(ctx, conn, actor, "routing_policy.rollback", f"model:{spec.name}",
                     {"policy_version": spec.policy_version, "reason": reason})
    ctx.routing_policies.pop(spec.name, None)
    return _out(spec, None, True)
