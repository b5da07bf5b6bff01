"""Ingest: score with the champion, store with its version, route, enqueue; idempotent; all-or-nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from reviewqueue.db.tables import Decision, ModelVersion, OutboxAction, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import BatchTooLarge, Forbidden, NoChampion, NotFound, ValidationFailed
from reviewqueue.services import ingest
from reviewqueue.services.auth import Actor
from tests.conftest import transaction, uncertain

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
    assert sorted(i.priority for i in items) == sorted(
        round(review[e["external_id"]].score * e["features"]["amount"], 6) for e in events[:5])
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
