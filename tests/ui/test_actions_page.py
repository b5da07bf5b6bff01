"""The Actions page: dead letters newest first, each naming its item, model, verdict and external id; an admin
counts the dead letters a filter matches, then replays exactly those."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue.services import outbox
from tests.ui.helpers import ingest_uncertain, rows, shown, sign_in, texts


def _two_dead_webhooks(ctx: Any, people: Any, live_api: str) -> list[Any]:
    """Two items decided "legit" (one webhook each, no undo window), dead at once: no connector configured."""
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=2)
    with Client(live_api, people.reviewer) as reviewer:
        for _ in queued:
            lease = reviewer.claim_next("fraud")
            assert lease is not None and lease.lease_token
            reviewer.decide(lease.id, "legit", lease.lease_token)
    dispatcher = outbox.Dispatcher(ctx, {}, "ui-test")
    try:
        assert dispatcher.run_once() == 2
    finally:
        dispatcher.close()
    return rows(ctx, "SELECT o.id, d.item_id, p.external_id FROM outbox_actions o JOIN decisions d "
                     "ON d.id = o.decision_id JOIN predictions p ON p.id = d.prediction_id "
                     "ORDER BY o.created_at DESC, o.id DESC")


def test_dead_letters_name_their_item_and_a_filtered_replay_is_counted_then_done(
        app: AppTest, ctx: Any, people: Any, live_api: str) -> None:
    newest_first = _two_dead_webhooks(ctx, people, live_api)
    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/actions.py").run()
    assert not at.exception
    cards = [shown(m.value) for m in at.markdown if "verdict legit" in shown(m.value)]
    assert [c.split("\n")[-1].strip() for c in cards] == [
        f"fraud {r.external_id} · item {r.item_id} · verdict legit" for r in newest_first]

    at.selectbox(key="replay-connector").select("webhook")
    at.selectbox(key="replay-model").select("fraud")
    at.text_input(key="replay-error").input("ConnectorNotConfigured")
    at.button(key="replay-count").click().run()
    assert not at.exception
    assert "2 dead actions match" in texts(at)
    assert {r.status for r in rows(ctx, "SELECT status FROM outbox_actions")} == {"dead"}, "counting changes nothing"

    at.button(key="replay-confirm").click().run()
    assert not at.exception
    assert {(r.status, r.attempts) for r in rows(ctx, "SELECT status, attempts FROM outbox_actions")} == {
        ("pending", 0)}
    assert at.toast[0].value.startswith("Replayed 2 dead actions")
    [entry] = rows(ctx, "SELECT actor FROM audit_log WHERE action = 'action.replay_matching'")
    assert entry.actor == "admin"
    assert {m.label: m.value for m in at.metric}["Pending"] == "2"


def test_a_reviewer_sees_dead_letters_without_any_replay(app: AppTest, ctx: Any, people: Any,
                                                         live_api: str) -> None:
    _two_dead_webhooks(ctx, people, live_api)
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/actions.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Dead"] == "2"
    assert "An admin can replay dead actions." in texts(at)
    assert not [b for b in at.button if b.key and b.key.startswith("replay-")]
