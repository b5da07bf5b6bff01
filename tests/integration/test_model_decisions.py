"""The model's decisions and actions that the database builds for a batch (db.model_decisions) are the rows the
row-by-row path writes (services.payloads): same decision, same action columns, the same payload key for key,
in the same order, with the score a float — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from reviewqueue.db.model_decisions import write_model_decisions
from reviewqueue.db.tables import decisions_table, outbox_table, predictions_table
from reviewqueue.domain.states import Role
from reviewqueue.services import ingest
from reviewqueue.services.auth import Actor
from reviewqueue.services.payloads import action_payload, outbox_rows
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
NOW = datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=UTC)


def stored(ctx):
    with ctx.engine.connect() as conn:
        predictions = {r.id: r for r in conn.execute(select(predictions_table))}
        decisions = {r.id: r for r in conn.execute(select(decisions_table))}
        actions = list(conn.execute(select(outbox_table)))
    return predictions, decisions, actions


def expected_action(spec, prediction, decision, item_id):
    """What the row-by-row path writes for this decision's first action (services.payloads)."""
    payload = action_payload(spec=spec, prediction=prediction._asdict(), verdict=decision.verdict, source="model",
                             actor=decision.actor, item_id=item_id, decision_id=decision.id)
    return outbox_rows(spec, decision.verdict, decision.id, payload, NOW)


def test_a_batch_writes_what_the_row_by_row_path_writes(ctx):
    ctx.clock = lambda: NOW
    spec = ctx.registry.model("fraud")
    events = [transaction(i) for i in range(40)] + [transaction(100 + i, risky=True) for i in range(3)] + \
             [uncertain(200 + i) for i in range(3)]
    results = {r.external_id: r for r in ingest.ingest(ctx, SYSTEM, "fraud", events)}
    predictions, decisions, actions = stored(ctx)
    auto = [p for p in predictions.values() if p.route != "review"]
    assert sum(p.route == "auto_pass" for p in auto) >= 30  # the batch took the database-built path
    assert sorted(d.prediction_id for d in decisions.values()) == sorted(p.id for p in auto)
    for decision in decisions.values():
        prediction = predictions[decision.prediction_id]
        assert (decision.verdict, decision.source, decision.actor, decision.note, decision.item_id) == \
            ({"auto_pass": "legit", "auto_flag": "fraud"}[prediction.route], "model", "model:fraud", "", None)
        assert decision.created_at == NOW
        mine = sorted((a for a in actions if a.decision_id == decision.id), key=lambda a: a.connector)
        want = sorted(expected_action(spec, prediction, decision, results[prediction.external_id].item_id),
                      key=lambda a: a["connector"])
        assert [a.connector for a in mine] == [w["connector"] for w in want]
        for action, wanted in zip(mine, want, strict=True):
            assert re.fullmatch(r"[0-9a-f]{32}", action.id)
            for column in ("params", "attempts", "outcome_unknown", "next_attempt_at", "created_at", "compensates"):
                assert getattr(action, column) == wanted[column], column
            if action.status == "pending":  # refused ones (auto_flag's manual actions) keep the row-by-row path
                assert action.last_error is None
            # the same keys in the same order, the same values and types (the score a float)
            assert list(action.payload.items()) == list(wanted["payload"].items())
            assert type(action.payload["score"]) is float
    assert len({a.id for a in actions}) == len(actions)


def test_scores_keep_every_digit_and_stay_floats(ctx):
    """Written by the database, the payload's score is the stored double exactly, a float even when integral."""
    events = [transaction(i) for i in range(6)]
    ingest.ingest(ctx, SYSTEM, "fraud", events)
    scores = [1.0, 0.0, 0.1 + 0.2, 0.9999999999999999, 5e-324, 0.123456789012345678]
    with ctx.engine.begin() as conn:
        ids = sorted(conn.execute(select(predictions_table.c.id)).scalars())
        conn.execute(delete(outbox_table))
        conn.execute(delete(decisions_table))
        for prediction_id, score in zip(ids, scores, strict=True):
            conn.execute(update(predictions_table).where(predictions_table.c.id == prediction_id)
                         .values(score=score, route="auto_pass"))
        write_model_decisions(conn, ids, verdict_of_route={"auto_pass": "legit"}, actor="model:fraud",
                              actions={"legit": [("webhook", {"x": [1, "ü"]})]}, now=NOW)
    predictions, decisions, actions = stored(ctx)
    by_prediction = {decisions[a.decision_id].prediction_id: a for a in actions}
    for prediction_id, score in zip(ids, scores, strict=True):
        payload = by_prediction[prediction_id].payload
        assert payload["score"] == score and type(payload["score"]) is float
        assert payload["features"] == predictions[prediction_id].features
        assert by_prediction[prediction_id].params == {"x": [1, "ü"]}


def test_nothing_to_decide_writes_nothing(ctx):
    with ctx.engine.begin() as conn:
        write_model_decisions(conn, [], verdict_of_route={"auto_pass": "legit"}, actor="model:fraud",
                              actions={"legit": [("webhook", {})]}, now=NOW)
    _predictions, decisions, actions = stored(ctx)
    assert decisions == {} and actions == []


def test_the_worker_delivers_what_the_database_built(ctx):
    """A batch's database-built webhook actions are leased and delivered like any other, payload intact."""
    from reviewqueue.services import outbox
    from reviewqueue.testing import RecordingConnector

    events = [transaction(i) for i in range(30)]
    results = ingest.ingest(ctx, SYSTEM, "fraud", events)
    passed = {r.external_id: r for r in results if r.route == "auto_pass"}
    assert len(passed) >= 20
    fakes = {name: RecordingConnector(name) for name in ("stripe_refund", "slack_message", "sql", "webhook")}
    dispatcher = outbox.Dispatcher(ctx, fakes, "w1")
    while dispatcher.run_once():
        pass
    delivered = {a.payload["external_id"]: a.payload for a in fakes["webhook"].delivered}
    assert set(passed) <= set(delivered)
    for external_id, result in passed.items():
        payload = delivered[external_id]
        assert (payload["prediction_id"], payload["score"], payload["verdict"], payload["source"]) == \
            (result.prediction_id, result.score, "legit", "model")
        assert payload["context"]["charge_id"] == next(e for e in events if e["external_id"] == external_id)[
            "context"]["charge_id"]
    assert {s for s in stored(ctx)[2] if s.status != "done" and s.connector == "webhook"} == set()
