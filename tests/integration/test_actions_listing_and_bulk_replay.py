"""Actions over HTTP: newest first with a (created_at, id) keyset, dead letters naming what they were about, and
an admin's replay of a filtered set of dead letters — counted first, audited, then delivered by the worker to the
real loopback Slack server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from connectors.slack_message import SlackMessageConnector
from reviewqueue.db import outbox as outbox_queries
from reviewqueue.domain.states import Role
from reviewqueue.services import decisions, ingest, outbox, queue
from reviewqueue.services.auth import Actor, authenticate
from reviewqueue.settings import Settings
from reviewqueue_dev.sandbox import Sink, wait_until
from tests.clock import past_undo_window
from tests.factories import uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())


def _rows(ctx: Any, sql: str, **params: Any) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def test_actions_are_listed_newest_first_and_paged_without_gaps_or_repeats(ctx: Any, as_: Any) -> None:
    """Ids are uuid4 (random order): the list follows created_at, ties broken by id, across pages."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ids = ["f" * 32, "0" * 32, "a" * 32, "1" * 32, "b" * 32]  # id order is not time order
    made = [start, start + timedelta(seconds=3), start + timedelta(seconds=1), start + timedelta(seconds=1),
            start + timedelta(seconds=2)]
    with ctx.engine.begin() as conn:
        outbox_queries.insert_actions(conn, [
            {"id": i, "decision_id": None, "connector": "slack_message", "params": {}, "payload": {},
             "status": "done", "attempts": 1, "outcome_unknown": False, "next_attempt_at": t, "created_at": t}
            for i, t in zip(ids, made, strict=True)])
    admin = as_("admin")
    newest_first = ["0" * 32, "b" * 32, "a" * 32, "1" * 32, "f" * 32]  # created 3, 2, 1 (a > 1), 1, 0
    assert [a["id"] for a in admin.get("/v1/actions").json()] == newest_first
    pages: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = admin.get("/v1/actions", params=params).json()
        if not page:
            break
        pages += [a["id"] for a in page]
        params = {"limit": 2, "before_created_at": page[-1]["created_at"], "before_id": page[-1]["id"]}
    assert pages == newest_first
    # half a cursor is refused, naming the missing half; a malformed one names itself
    refused = admin.get("/v1/actions", params={"before_id": "a" * 32})
    assert refused.status_code == 422 and "before_created_at" in refused.text
    refused = admin.get("/v1/actions", params={"before_created_at": "yesterday", "before_id": "a" * 32})
    assert refused.status_code == 422 and "before_created_at" in refused.text


def _dead_decisions(ctx: Any, people: Any, n: int) -> list[int]:
    """n items decided "fraud" by a reviewer (four actions each), undo windows waited out, then a worker with no
    connector configured dead-letters all their actions at once."""
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(n)])
    reviewer = authenticate(ctx, people.reviewer)
    decided = []
    for _ in range(n):
        item = queue.claim_next(ctx, reviewer, "fraud")
        assert item is not None
        decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token)
        decided.append(item.id)
    past_undo_window(ctx)
    dispatcher = outbox.Dispatcher(ctx, {}, "no-connectors")
    try:
        assert dispatcher.run_once() == 4 * n
    finally:
        dispatcher.close()
    return decided


def test_dead_letters_name_their_item_model_verdict_and_external_id(ctx: Any, people: Any, as_: Any) -> None:
    [item_id] = _dead_decisions(ctx, people, 1)
    dead = as_("admin").get("/v1/actions", params={"status": "dead"}).json()
    assert len(dead) == 4
    assert {(a["item_id"], a["model"], a["verdict"], a["external_id"]) for a in dead} == {
        (item_id, "fraud", "fraud", "tx-u0")}
    one = as_("admin").get(f"/v1/actions/{dead[0]['id']}").json()
    assert (one["item_id"], one["external_id"]) == (item_id, "tx-u0")


def test_admin_replays_the_dead_letters_a_filter_matches_and_the_worker_delivers_them(
        ctx: Any, people: Any, as_: Any, sink: Sink) -> None:
    _dead_decisions(ctx, people, 2)
    body = {"connector": "slack_message", "model": "fraud", "error": "not configured"}
    for who in ("reviewer", "data_scientist"):
        assert as_(who).post("/v1/actions/replay", json=body).status_code == 403
    admin = as_("admin")
    preview = admin.post("/v1/actions/replay", json={**body, "dry_run": True}).json()
    assert (preview["matched"], preview["replayed"]) == (2, 0)
    assert {r.status for r in _rows(ctx, "SELECT status FROM outbox_actions")} == {"dead"}, "a dry run changes nothing"
    assert admin.post("/v1/actions/replay", json={**body, "expected": 3}).status_code == 409
    assert admin.post("/v1/actions/replay", json={**body, "model": "nope"}).status_code == 404
    refused = admin.post("/v1/actions/replay", json={**body, "error": ""})
    assert refused.status_code == 422 and "error" in refused.text

    done = admin.post("/v1/actions/replay", json={**body, "expected": 2}).json()
    assert (done["matched"], done["replayed"], len(done["action_ids"])) == (2, 2, 2)
    states = {(r.connector, r.status, r.attempts) for r in _rows(ctx, "SELECT connector, status, attempts "
                                                                         "FROM outbox_actions")}
    assert states == {("slack_message", "pending", 0), ("stripe_refund", "dead", 1), ("sql", "dead", 1),
                      ("webhook", "dead", 1)}
    [entry] = _rows(ctx, "SELECT actor, action, target, detail FROM audit_log WHERE action = 'action.replay_matching'")
    detail = entry.detail if isinstance(entry.detail, dict) else __import__("json").loads(entry.detail)
    assert (entry.actor, entry.target) == ("admin", "actions:dead")
    assert detail["filter"] == {"connector": "slack_message", "model": "fraud", "error": "not configured"}
    assert detail["count"] == 2 and sorted(detail["action_ids"]) == sorted(done["action_ids"])

    slack = SlackMessageConnector(Settings(environment="test", **sink.settings_fields()))
    dispatcher = outbox.Dispatcher(ctx, {"slack_message": slack}, "after-replay")
    try:
        wait_until(lambda: dispatcher.run_once() == 0 and len(sink.slack_messages) == 2, timeout=15)
    finally:
        dispatcher.close()
        slack.close()
    posted = {m["metadata"]["event_payload"]["action_id"] for m in sink.slack_messages}
    assert posted == set(done["action_ids"])
    assert {r.status for r in _rows(ctx, "SELECT status FROM outbox_actions WHERE connector = 'slack_message'")} == {
        "done"}
    again = admin.post("/v1/actions/replay", json={**body, "dry_run": True}).json()
    assert again["matched"] == 0
