"""Ingest: score with the champion, store with its version, route, enqueue; idempotent; all-or-nothing."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import String, cast, func, insert, select, text
from sqlmodel import Session

from reviewqueue.db import predictions as prediction_queries
from reviewqueue.db.tables import Decision, ModelVersion, OutboxAction, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import BatchTooLarge, Forbidden, NoChampion, NotFound, ValidationFailed
from reviewqueue.services import ingest
from reviewqueue.services.auth import Actor
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())


def test_batch_is_scored_routed_and_stored_with_its_version(ctx):
    events = [uncertain(i) for i in range(5)] + [transaction(i, risky=True) for i in range(5)] + \
             [transaction(100 + i) for i in range(5)]
    results = ingest.ingest(ctx, SYSTEM, "fraud", events)
    routes = [r.route for r in results]
    assert routes == ["review"] * 5 + ["auto_flag"] * 5 + ["auto_pass"] * 5
    assert all(r.model_version == 1 and not r.duplicate for r in results)
    assert all(r.item_id is not None for r in results[:5])
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(Prediction.version_id, Prediction.score, Prediction.correlation_key)).all()
        items = conn.execute(select(ReviewItem.priority, ReviewItem.queue, ReviewItem.kind)
                             .where(ReviewItem.kind == "review")).all()
        model_decisions = conn.execute(select(Decision.verdict, Decision.source)).all()
    assert len(stored) == 15 and {s.version_id for s in stored} == {1}
    assert {s.correlation_key for s in stored} >= {"ch_u0", "ch_0"}
    # priority = expected loss = score × amount
    review = {r.external_id: r for r in results[:5]}
    # the auto-flagged ones are reviewed too: the fraud verdict's refund and ban are human-only (domain.authority)
    review.update({r.external_id: r for r in results[5:10]})
    assert sorted(i.priority for i in items) == sorted(
        round(review[e["external_id"]].score * e["features"]["amount"], 6) for e in events[:10])
    assert all(r.item_id is not None for r in results[5:10]) and not any(r.item_id for r in results[10:])
    # auto-decisions are decisions by the model, firing the verdict's actions in the same commit
    assert sorted(model_decisions) == sorted([("fraud", "model")] * 5 + [("legit", "model")] * 5)
    assert count(ctx, OutboxAction) == 5 * 4 + 5 * 1


def test_resending_is_a_noop_that_returns_the_original_result(ctx):
    first = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), transaction(2)])
    again = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), transaction(2), uncertain(3)])
    assert [r.prediction_id for r in again[:2]] == [r.prediction_id for r in first]
    assert [r.duplicate for r in again] == [True, True, False]
    assert again[0].item_id == first[0].item_id and again[0].score == first[0].score
    assert count(ctx, Prediction) == 3 and count(ctx, ReviewItem) == 2


def test_invalid_event_anywhere_in_the_batch_stores_nothing(ctx):
    events = [uncertain(i) for i in range(10)]
    events[7]["features"]["amount"] = float("nan")
    with pytest.raises(ValidationFailed) as caught:
        ingest.ingest(ctx, SYSTEM, "fraud", events)
    assert caught.value.field == "events[7].features.amount"
    assert count(ctx, Prediction) == 0 and count(ctx, ReviewItem) == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(external_id=""), "events[0].external_id"),
        (lambda e: e["context"].update(secret="x"), "events[0].context.secret"),
        (lambda e: e.update(colour="red"), "events[0].colour"),
        (lambda e: e["features"].pop("hour"), "events[0].features.hour"),
    ],
)
def test_validation_names_the_field(ctx, mutate, field):
    event = uncertain(0)
    mutate(event)
    with pytest.raises(ValidationFailed) as caught:
        ingest.ingest(ctx, SYSTEM, "fraud", [event])
    assert caught.value.field == field


def test_duplicate_ids_inside_a_batch_are_refused(ctx):
    with pytest.raises(ValidationFailed, match="appears twice") as caught:
        ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), uncertain(1)])
    assert caught.value.field == "events[1].external_id"


def test_batch_over_the_limit_is_refused_whole(ctx):
    ctx.settings.batch_limit = 3
    with pytest.raises(BatchTooLarge, match="over the batch limit of 3"):
        ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(4)])
    assert count(ctx, Prediction) == 0


def test_unknown_model_and_wrong_role(ctx):
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        ingest.ingest(ctx, SYSTEM, "nope", [uncertain(1)])
    reviewer = Actor(id=1, name="r", role=Role.REVIEWER, queues=("fraud",))
    with pytest.raises(Forbidden):
        ingest.ingest(ctx, reviewer, "fraud", [uncertain(1)])


def test_no_champion_is_a_clear_error(ctx):
    with ctx.engine.begin() as conn:
        conn.execute(Prediction.__table__.delete())
        conn.execute(ModelVersion.__table__.delete())
    with pytest.raises(NoChampion, match="models register fraud"):
        ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1)])


def test_concurrent_resends_store_each_event_once(ctx):
    events = [uncertain(i) for i in range(40)]
    results: list = []
    errors: list = []

    def send() -> None:
        try:
            results.append(ingest.ingest(ctx, SYSTEM, "fraud", events))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert count(ctx, Prediction) == 40 and count(ctx, ReviewItem) == 40
    ids = {tuple(r.prediction_id for r in batch) for batch in results}
    assert len(ids) == 1, "every caller gets the same predictions back"


def rows_by(ctx, table, key: str) -> dict:
    with ctx.engine.connect() as conn:
        return {getattr(r, key): r for r in conn.execute(select(table.__table__)).all()}


def test_stored_rows_carry_the_returned_ids_and_point_to_each_other(ctx):
    events = [uncertain(i) for i in range(3)] + [transaction(i, risky=True) for i in range(3)] + \
             [transaction(100 + i) for i in range(3)]
    results = {r.external_id: r for r in ingest.ingest(ctx, SYSTEM, "fraud", events)}
    stored = rows_by(ctx, Prediction, "external_id")
    items = rows_by(ctx, ReviewItem, "id")
    decisions = rows_by(ctx, Decision, "id")
    actions = rows_by(ctx, OutboxAction, "id")
    assert {ext: r.prediction_id for ext, r in results.items()} == {ext: p.id for ext, p in stored.items()}
    ids_in_batch_order = [results[e["external_id"]].prediction_id for e in events]
    assert ids_in_batch_order == sorted(ids_in_batch_order)
    assert {r.item_id: r.prediction_id for r in results.values() if r.item_id} == \
        {i.id: i.prediction_id for i in items.values()}
    auto = {r.prediction_id for r in results.values() if r.route != "review"}
    assert sorted(d.prediction_id for d in decisions.values()) == sorted(auto)
    for action in actions.values():
        decision = decisions[action.decision_id]
        prediction = next(p for p in stored.values() if p.id == decision.prediction_id)
        assert action.payload["decision_id"] == decision.id
        assert action.payload["prediction_id"] == prediction.id
        assert action.payload["external_id"] == prediction.external_id
        assert action.payload["features"] == prediction.features and action.payload["verdict"] == decision.verdict
    assert {a.decision_id for a in actions.values()} == set(decisions)


def test_ingested_json_and_datetimes_are_stored_as_the_orm_stores_them(ctx):
    # microseconds in a zone that is not UTC: the column type must store the same instant either way
    ctx.clock = lambda: datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-3)))
    event = transaction(1, risky=True)
    event["context"] = {"charge_id": "ch_ü", "user_id": "u\"1\"", "currency": "usd"}
    ingest.ingest(ctx, SYSTEM, "fraud", [event])
    original = next(iter(rows_by(ctx, Prediction, "external_id").values()))
    action = next(iter(rows_by(ctx, OutboxAction, "id").values()))
    with Session(ctx.engine) as session:
        session.add(Prediction(**(original._asdict() | {"id": None, "external_id": "via-orm"})))
        session.add(OutboxAction(**(action._asdict() | {"id": "via-orm"})))
        session.commit()
    via_orm, via_ingest = stored_text(ctx, Prediction, "external_id", ["via-orm", event["external_id"]],
                                      ["features", "context", "created_at", "score", "audited", "correlation_key"])
    assert via_ingest == via_orm
    via_orm, via_ingest = stored_text(ctx, OutboxAction, "id", ["via-orm", action.id],
                                      ["params", "payload", "next_attempt_at", "created_at", "outcome_unknown"])
    assert via_ingest == via_orm
    assert original.created_at == ctx.now() and original.features == event["features"]


def stored_text(ctx, model, key: str, keys: list[str], columns: list[str]) -> list[tuple]:
    """The columns as the database holds them (cast to text), so a different serialisation would show."""
    table = model.__table__
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(table.c[key], *[cast(table.c[c], String) for c in columns])
                            .where(table.c[key].in_(keys))).all()
    by_key = {r[0]: tuple(r[1:]) for r in rows}
    return [by_key[k] for k in keys]


def test_a_lost_race_is_retried_and_nothing_is_stored_twice(ctx, monkeypatch, caplog):
    first = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), transaction(2)])
    real_existing = prediction_queries.stored_predictions
    calls: list[int] = []

    def stale_then_real(*args):  # the first read misses what a concurrent request has just stored
        calls.append(1)
        return {} if len(calls) == 1 else real_existing(*args)

    monkeypatch.setattr(prediction_queries, "stored_predictions", stale_then_real)
    with caplog.at_level(logging.INFO, logger="reviewqueue.services.ingest"):
        again = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(3), uncertain(1), transaction(2)])
    assert any(getattr(r, "action", None) == "ingest_retry" for r in caplog.records)
    assert [r.duplicate for r in again] == [False, True, True]
    assert [r.prediction_id for r in again[1:]] == [r.prediction_id for r in first]
    assert again[1].item_id == first[0].item_id
    assert (count(ctx, Prediction), count(ctx, ReviewItem), count(ctx, Decision)) == (3, 2, 1)
    assert count(ctx, OutboxAction) == 1


def test_an_external_id_raced_in_concurrently_is_stored_once(ctx, caplog):
    with ctx.engine.connect() as conn:
        version_id = conn.execute(select(ModelVersion.id)).scalar_one()
    rival = {"model_name": "fraud", "external_id": "tx-u1", "version_id": version_id, "score": 0.5,
             "route": "review", "audited": False, "features": {}, "context": {}, "correlation_key": None,
             "created_at": ctx.now()}
    results: list = []
    with ctx.engine.connect() as other:
        other.begin()  # holds its uncommitted row (PostgreSQL) or the write lock (SQLite)
        rival_id = other.execute(insert(Prediction.__table__).returning(Prediction.id), rival).scalar_one()
        with caplog.at_level(logging.INFO, logger="reviewqueue.services.ingest"):
            worker = threading.Thread(
                target=lambda: results.append(ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(1), uncertain(2)])))
            worker.start()
            wait_until_blocked(ctx)
            other.commit()
            worker.join(timeout=30)
    assert results, "ingest did not finish"
    raced, fresh = results[0]
    assert raced.duplicate and raced.prediction_id == rival_id and raced.item_id is None
    assert not fresh.duplicate and fresh.item_id is not None
    assert (count(ctx, Prediction), count(ctx, ReviewItem)) == (2, 1)
    if ctx.engine.dialect.name == "postgresql":  # SQLite's writer lock serialises them: no race to retry
        assert any(getattr(r, "action", None) == "ingest_retry" for r in caplog.records)


def wait_until_blocked(ctx) -> None:
    """Until the ingest waits on the rival's lock (PostgreSQL); SQLite's busy wait is not visible, so pause."""
    if ctx.engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 20
    with ctx.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'")).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("ingest never waited on the rival's row")
