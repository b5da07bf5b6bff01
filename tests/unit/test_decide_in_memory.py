"""The decision use case as a unit test: its own in-memory database (reviewqueue.testing.in_memory_context),
no files, no server, no ONNX — the claim's statements, then decide(), asserted on the rows it leaves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from reviewqueue.db import items, predictions, versions
from reviewqueue.db.tables import Decision, Label, OutboxAction, ReviewItem
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role, VersionStatus
from reviewqueue.errors import AlreadyDecided, Forbidden, LeaseLost, ValidationFailed
from reviewqueue.registry import Registry
from reviewqueue.services import auth, decisions, queue
from reviewqueue.services.context import AppContext
from reviewqueue.testing import in_memory_context

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# ids 1 and 2: the principals the ctx fixture creates first (claims reference principals)
ANA = Actor(1, "ana", Role.REVIEWER, ("fraud",))
CLEO = Actor(2, "cleo", Role.REVIEWER, ("clinical",))


@pytest.fixture(scope="module")
def fraud_registry() -> Registry:
    registry = Registry()
    registry.load_modules(["models.fraud"])
    return registry.freeze()


@pytest.fixture
def ctx(fraud_registry: Registry) -> Iterator[AppContext]:
    context = in_memory_context(fraud_registry)
    context.clock = lambda: NOW
    for person in (ANA, CLEO):
        assert auth.create_principal(context, person.name, person.role, list(person.queues)) == person.id
    yield context
    context.engine.dispose()


def one_pending_item(ctx: AppContext) -> int:
    """A fraud prediction in the review band, queued: the rows ingest would have written."""
    with ctx.engine.begin() as conn:
        version_id = versions.insert_version(
            conn, model_name="fraud", version=1, status=VersionStatus.CHAMPION, artifact_path="unused.onnx",
            sha256="0" * 64, input_schema={}, data_fingerprint="f", metrics={}, lineage={}, created_at=NOW,
            promoted_at=NOW)
        [prediction_id] = predictions.insert_predictions(conn, [{
            "model_name": "fraud", "external_id": "tx-1", "version_id": version_id, "score": 0.4, "route": "review",
            "audited": False, "features": {"amount": 40.0}, "context": {"charge_id": "ch_1", "user_id": "u1"},
            "correlation_key": "ch_1", "policy_version": "p1", "selection_probability": 1.0, "created_at": NOW}])
        [item_id] = items.insert_items(conn, [{"prediction_id": prediction_id, "queue": "fraud", "kind": "review",
                                               "priority": 0.4, "status": "pending", "created_at": NOW}])
    return item_id


def count(ctx: AppContext, table: type) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())  # type: ignore


def test_a_decision_writes_its_label_and_actions_once_and_only_from_the_live_lease(ctx: AppContext) -> None:
    item_id = one_pending_item(ctx)
    with ctx.engine.begin() as conn:
        claim = queue.claim_in_transaction(ctx, conn, ANA.id, "fraud")
    assert claim is not None and claim.item_id == item_id and not claim.already_held

    with pytest.raises(Forbidden):  # another queue's reviewer, even with the real token
        decisions.decide(ctx, CLEO, item_id, "fraud", claim.lease_token)
    with pytest.raises(ValidationFailed, match="verdict"):
        decisions.decide(ctx, ANA, item_id, "maybe", claim.lease_token)
    with pytest.raises(LeaseLost):
        decisions.decide(ctx, ANA, item_id, "fraud", "not-the-token")
    assert (count(ctx, Decision), count(ctx, Label), count(ctx, OutboxAction)) == (0, 0, 0)

    out = decisions.decide(ctx, ANA, item_id, "fraud", claim.lease_token, note="card testing")
    n_actions = len(ctx.registry.model("fraud").actions_for("fraud"))
    assert (out.item_id, out.verdict, len(out.action_ids)) == (item_id, "fraud", n_actions)
    assert (count(ctx, Decision), count(ctx, Label), count(ctx, OutboxAction)) == (1, 1, n_actions)
    with ctx.engine.connect() as conn:
        label = conn.execute(select(Label.__table__)).one()  # type: ignore[attr-defined]
        item = conn.execute(select(ReviewItem.__table__)).one()  # type: ignore[attr-defined]
    assert (label.value, label.source, label.actor, label.decision_id) == ("fraud", "reviewer", "ana", out.decision_id)
    assert label.selection_probability == 1.0  # the review band: this verdict was always going to be asked for
    assert (item.status, item.lease_token, item.decided_at) == ("decided", None, NOW)

    with pytest.raises(AlreadyDecided):
        decisions.decide(ctx, ANA, item_id, "legit", claim.lease_token)
    assert count(ctx, OutboxAction) == n_actions


def test_queue_overview_shows_each_reviewer_only_their_queues(ctx: AppContext) -> None:
    one_pending_item(ctx)
    assert [(q.queue, q.pending) for q in queue.overview(ctx, ANA)] == [("fraud", 1)]
    assert queue.overview(ctx, CLEO) == []
    admin = Actor(3, "root", Role.ADMIN, ())
    assert [(q.queue, q.kind) for q in queue.overview(ctx, admin)] == [("fraud", "decision"),
                                                                       ("fraud-senior", "escalation")]
