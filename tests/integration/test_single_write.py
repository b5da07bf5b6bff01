"""One event's whole write (db.single_write): its prediction, item, the model's decision and that decision's
actions land together or not at all; each action's payload names the ids the rows got; on PostgreSQL the request
writes with ONE statement and no BEGIN/COMMIT of its own (the statement is its own transaction), on SQLite
inside one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from reviewqueue.db import single_write
from reviewqueue.db.predictions import NotStored
from reviewqueue.db.tables import Decision, OutboxAction, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import ingest
from reviewqueue.services.auth import Actor
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def counts(ctx) -> tuple[int, int, int, int]:
    with ctx.engine.connect() as conn:
        return tuple(int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())  # type: ignore
                     for t in (Prediction, ReviewItem, Decision, OutboxAction))


def sql_during(ctx, fn) -> list[str]:
    """Every statement (marked "autocommit" when the driver ran it outside a transaction of its own) and every
    COMMIT that ``fn`` sent through ctx's engine, in order."""
    seen: list[str] = []

    def on_execute(conn, _cursor, statement, *_args) -> None:
        driver = conn.connection.driver_connection
        autocommit = bool(getattr(driver, "autocommit", False)) if conn.dialect.name == "postgresql" else False
        seen.append(" ".join(statement.split()[:4]) + (" [autocommit]" if autocommit else ""))

    def on_commit(_conn) -> None:
        seen.append("COMMIT")

    hooks = [("before_cursor_execute", on_execute), ("commit", on_commit)]
    for name, hook in hooks:
        event.listen(ctx.engine, name, hook)
    try:
        fn()
    finally:
        for name, hook in hooks:
            event.remove(ctx.engine, name, hook)
    return seen


def audited_transaction(ctx) -> dict:
    """A confident fraud event whose external id falls in the model's audit sample (decided AND reviewed)."""
    spec = ctx.registry.model("fraud")
    i = next(i for i in range(10_000) if spec.routing.audited(f"tx-{i}"))
    return transaction(i)


def test_a_warm_single_event_writes_once(ctx):
    ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1)])  # caches: token, champion, routing policy
    for event_ in (transaction(2), uncertain(3)):
        sent = sql_during(ctx, lambda e=event_: ingest.ingest(ctx, SYSTEM, "fraud", [e]))
        if ctx.engine.dialect.name == "postgresql":
            # one statement, its own transaction (psycopg sends no BEGIN in autocommit), and no COMMIT after it
            assert sent == ["WITH p AS ( [autocommit]"], sent
        else:
            assert sent.count("COMMIT") == 1 and sent[-1] == "COMMIT", sent
    spec = ctx.registry.model("fraud")
    audits = sum(spec.routing.audited(f"tx-{i}") for i in (1, 2))  # audited auto-decisions get an item too
    assert counts(ctx) == (3, 1 + audits, 2, 2)


@pytest.mark.parametrize("make", [transaction, uncertain, audited_transaction],
                         ids=["auto-decided", "review item", "auto-decided and audited"])
def test_each_action_names_the_rows_it_belongs_to(ctx, make):
    [answer] = ingest.ingest(ctx, SYSTEM, "fraud", [make(ctx) if make is audited_transaction else make(5)])
    with ctx.engine.connect() as conn:
        decisions = conn.execute(select(Decision.id, Decision.prediction_id, Decision.source)).all()
        items = conn.execute(select(ReviewItem.id, ReviewItem.prediction_id, ReviewItem.kind)).all()
        actions = conn.execute(select(OutboxAction.decision_id, OutboxAction.payload)).all()
    if make is uncertain:
        assert (decisions, actions) == ([], [])
        assert [(i.id, i.prediction_id, i.kind) for i in items] == [(answer.item_id, answer.prediction_id, "review")]
        return
    [decision] = decisions
    assert (decision.prediction_id, decision.source) == (answer.prediction_id, "model")
    [action] = actions
    assert action.decision_id == decision.id
    assert {k: action.payload[k] for k in ("prediction_id", "decision_id", "item_id", "external_id")} == {
        "prediction_id": answer.prediction_id, "decision_id": decision.id, "item_id": answer.item_id,
        "external_id": answer.external_id}
    if make is audited_transaction:
        assert [(i.id, i.prediction_id, i.kind) for i in items] == [(answer.item_id, answer.prediction_id, "audit")]
        assert answer.item_id is not None
    else:
        assert items == [] and answer.item_id is None


def _rows(ctx, external_id: str, version_id: int) -> tuple[dict, dict, dict, list[dict]]:
    now = datetime.now(UTC)
    event_ = transaction(9)
    prediction = {"model_name": "fraud", "external_id": external_id, "version_id": version_id, "score": 0.01,
                  "route": "auto_pass", "audited": True, "features": event_["features"], "context": event_["context"],
                  "created_at": now}
    item = {"queue": "fraud", "kind": "audit", "priority": 1.0, "status": "pending", "created_at": now}
    decision = {"item_id": None, "verdict": "legit", "source": "model", "actor": "model:fraud", "note": "",
                "created_at": now}
    action = {"id": "a" * 32, "connector": "webhook", "params": {}, "payload": {"external_id": external_id},
              "status": "pending", "attempts": 0, "outcome_unknown": False, "last_error": None,
              "next_attempt_at": now, "created_at": now, "compensates": None}
    return prediction, item, decision, [action]


def test_nothing_is_written_when_the_prediction_is_not(ctx):
    [first] = ingest.ingest(ctx, SYSTEM, "fraud", [transaction(9)])
    with ctx.engine.connect() as conn:
        version_id = conn.execute(select(Prediction.version_id)).scalar_one()
    before = counts(ctx)
    # a duplicate external id, a version that does not serve, a shadow the caller did not score with: no item,
    # decision or action is written either
    for external_id, version, shadow in (("tx-9", version_id, None), ("tx-new", version_id + 1000, None),
                                         ("tx-other", version_id, 12345)):
        prediction, item, decision, actions = _rows(ctx, external_id, version)
        with ctx.engine.begin() as conn, pytest.raises(NotStored):
            single_write.write_prediction(conn, prediction, shadow, item, decision, actions)
    assert counts(ctx) == before
    assert first.duplicate is False


def test_actions_need_a_decision(ctx):
    prediction, item, _decision, actions = _rows(ctx, "tx-1", 1)
    with ctx.engine.begin() as conn, pytest.raises(ValueError, match="decision"):
        single_write.write_prediction(conn, prediction, None, item, None, actions)
