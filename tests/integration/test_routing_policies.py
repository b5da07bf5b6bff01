"""Routing-policy versions on the real database: applying thresholds changes how the NEXT predictions are routed
and what they record, here at once and in another process within the documented staleness; admin only, recorded in
the audit log, and a rollback returns to the decorator's policy. Over HTTP: bad input is a 4xx naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import AuditEntry, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, Forbidden, ValidationFailed
from reviewqueue.services import evaluate as evaluation
from reviewqueue.services import ingest, policies, versions
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.services.context import AppContext
from tests.factories import make_settings, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def recorded(ctx: AppContext, external_id: str) -> tuple[str, str, bool]:
    """(route, policy_version, has an item) of one stored prediction."""
    with ctx.engine.connect() as conn:
        p = conn.execute(select(Prediction).where(Prediction.external_id == external_id)).one()
        item = conn.execute(select(ReviewItem.id).where(ReviewItem.prediction_id == p.id)).first()
    return p.route, p.policy_version, item is not None


def audit_actions(ctx: AppContext) -> list[tuple[str, str, dict[str, Any]]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(AuditEntry).where(AuditEntry.action.like("routing_policy.%"))
                            .order_by(AuditEntry.id)).all()
    return [(r.action, r.actor, r.detail) for r in rows]


def test_an_applied_policy_routes_the_next_predictions_and_a_rollback_restores_the_decorators(ctx, people):
    admin = authenticate(ctx, people.admin)
    spec = ctx.registry.model("fraud")
    [before] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])  # ≈ 0.36: the decorator's review band
    assert recorded(ctx, "tx-u1") == ("review", spec.policy_version, True)

    applied = policies.apply(ctx, admin, "fraud", 0.05, 0.3, None, "flag the 0.3+ band automatically")
    assert (applied.version, applied.source, applied.active) == (1, "stored", True)
    assert applied.policy_version.startswith("v1:") and applied.policy_version != spec.policy_version
    assert applied.audit_fraction == spec.routing.audit_fraction  # kept from the policy routing before
    assert applied.evidence["predictions"] == 1  # the what-if it was applied on, stored with it

    [after] = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(2)])
    assert after.score >= 0.3 and after.route == "auto_flag"
    route, version, _ = recorded(ctx, "tx-u2")
    assert (route, version) == ("auto_flag", applied.policy_version)
    assert recorded(ctx, "tx-u1")[:2] == ("review", spec.policy_version)  # the past keeps what routed it
    scored = versions.score_rows(ctx, admin, "fraud", 1, [uncertain(99)["features"]])
    assert scored.would_route == ["auto_flag"]  # scoring without storing says where the active policy sends it

    back = policies.rollback(ctx, admin, "fraud", "back to the model's own thresholds")
    assert (back.source, back.policy_version) == ("decorator", spec.policy_version)
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(3)])
    assert recorded(ctx, "tx-u3") == ("review", spec.policy_version, True)
    with pytest.raises(Conflict):  # nothing stored routes any more
        policies.rollback(ctx, admin, "fraud", "again")

    again = policies.activate(ctx, admin, "fraud", 1, "it was right after all")
    assert again.policy_version == applied.policy_version
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(4)])
    assert recorded(ctx, "tx-u4")[:2] == ("auto_flag", applied.policy_version)

    assert [(a, who) for a, who, _ in audit_actions(ctx)] == [
        ("routing_policy.apply", "admin"), ("routing_policy.rollback", "admin"), ("routing_policy.activate", "admin")]
    assert audit_actions(ctx)[0][2]["review_high"] == 0.3
    listed = policies.policies(ctx, admin, "fraud")
    assert listed.active.version == 1 and [v.version for v in listed.versions] == [1]
    assert not listed.decorator.active


def test_another_process_routes_with_the_new_policy_within_the_staleness(ctx, people, tmp_path):
    """A second API process (its own context and cache) keeps the policy it read for at most
    routing_policy_cache_seconds, then routes with the applied one — without a query per prediction. Its cache
    ages on a clock the test moves, so the bound is checked exactly, not against a busy machine's timing."""
    staleness = 5.0
    ticks = [1000.0]
    other = AppContext(settings=make_settings(ctx.settings.database_url, tmp_path,
                                              routing_policy_cache_seconds=staleness),
                       engine=make_engine(ctx.settings.database_url), registry=ctx.registry,
                       ticks=lambda: ticks[0])
    try:
        ingest.ingest(other, SYSTEM, "fraud", [uncertain(10)])  # reads and caches the decorator's policy
        applied = policies.apply(ctx, authenticate(ctx, people.admin), "fraud", 0.05, 0.3, None, "tighter")
        ingest.ingest(other, SYSTEM, "fraud", [uncertain(11)])
        assert recorded(ctx, "tx-u11")[0] == "review"  # within its cache period: the policy it read
        ticks[0] += staleness - 0.01
        ingest.ingest(other, SYSTEM, "fraud", [uncertain(12)])
        assert recorded(ctx, "tx-u12")[0] == "review"  # still (just) within it
        ticks[0] += 0.01
        ingest.ingest(other, SYSTEM, "fraud", [uncertain(13)])
        assert recorded(ctx, "tx-u13")[:2] == ("auto_flag", applied.policy_version)  # the bound reached: re-read
    finally:
        other.engine.dispose()


def test_only_an_admin_changes_the_policy_and_bad_thresholds_store_nothing(ctx, people):
    reviewer, scientist = authenticate(ctx, people.reviewer), authenticate(ctx, people.data_scientist)
    for who in (reviewer, scientist):
        with pytest.raises(Forbidden):
            policies.apply(ctx, who, "fraud", 0.1, 0.5, None, "mine")
    admin = authenticate(ctx, people.admin)
    with pytest.raises(ValidationFailed) as bad:
        policies.apply(ctx, admin, "fraud", 0.6, 0.5, None, "crossed")
    assert bad.value.field == "review_low"
    with pytest.raises(ValidationFailed) as bad:
        policies.apply(ctx, admin, "fraud", 0.1, 0.5, 1.5, "too many audits")
    assert bad.value.field == "audit_fraction"
    assert policies.policies(ctx, admin, "fraud").versions == [] and audit_actions(ctx) == []


def test_over_http_admin_only_fields_named_and_the_versions_listed(ctx, as_):
    body = {"review_low": 0.1, "review_high": 0.5, "reason": "from the what-if"}
    assert as_("reviewer").post("/v1/models/fraud/routing-policies", json=body).status_code == 403
    no_reason = {k: v for k, v in body.items() if k != "reason"}
    for bad, field in (({**body, "review_low": 0.7}, "review_low"), ({**body, "review_high": 1.2}, "review_high"),
                       ({**body, "reason": ""}, "reason"), (no_reason, "reason")):
        answer = as_("admin").post("/v1/models/fraud/routing-policies", json=bad)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
    created = as_("admin").post("/v1/models/fraud/routing-policies", json=body)
    assert created.status_code == 201 and created.json()["version"] == 1
    listed = as_("data_scientist").get("/v1/models/fraud/routing-policies").json()
    assert listed["active"]["policy_version"] == created.json()["policy_version"]
    assert listed["staleness_seconds"] == ctx.settings.routing_policy_cache_seconds
    assert as_("admin").post("/v1/models/fraud/routing-policies/7/activate",
                             json={"reason": "x"}).status_code == 404
    assert as_("admin").post("/v1/models/fraud/routing-policies/rollback", json={"reason": "undo"}).status_code == 200


def test_evaluate_and_score_report_routes_at_the_applied_policy(ctx, people):
    """Offline evaluation and scoring say where live traffic would go now: at an applied policy's thresholds."""
    rows = [uncertain(i)["features"] for i in range(4)]  # fraud v1 scores them ≈ 0.36: the decorator's review band

    def shares() -> dict[str, float]:
        [v1] = evaluation.evaluate(ctx, "fraud", rows, [1, 0, 1, 0]).versions
        return {r.route: r.share for r in v1.routes if r.share}

    def would_route() -> set[str]:
        return set(versions.score_rows(ctx, authenticate(ctx, people.admin), "fraud", 1, rows).would_route)

    assert (shares(), would_route()) == ({"review": 1.0}, {"review"})
    policies.apply(ctx, authenticate(ctx, people.admin), "fraud", 0.05, 0.3, None, "flag the 0.3+ band")
    assert (shares(), would_route()) == ({"auto_flag": 1.0}, {"auto_flag"})
