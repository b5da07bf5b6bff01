"""Triage's undo: an "Undo (U)" control while the decision's window is open takes it back — nothing fires, the item
returns to its queue (AppTest against the real API on a thread, over the test's database)."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from tests.ui.helpers import ingest_uncertain, rows, shown, sign_in


@pytest.fixture
def undoable(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ctx.registry.model("fraud").undo_seconds, "fraud", 120.0)


def test_undo_button_takes_the_decision_back_within_its_window(
    app: AppTest, ctx: Any, people: Any, live_api: str, undoable: None
) -> None:
    with Client(live_api, people.integration) as integration:
        first, _second = ingest_uncertain(integration, n=2)[:2]
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert not [b for b in at.button if b.key == "undo-decision"]  # nothing to undo yet
    at.button(key="verdict-fraud").click().run()
    assert not at.exception
    [undo] = [b for b in at.button if b.key == "undo-decision"]
    assert (undo.label, undo.proto.shortcut) == ("Undo", "u")
    assert any(first.external_id in shown(i.value) and "wait" in shown(i.value) for i in at.info)

    undo.click().run()
    assert not at.exception
    assert [shown(t.value) for t in at.toast] == [
        f"Undone: {first.external_id} is back in its queue and none of its actions fired"]
    assert not [b for b in at.button if b.key == "undo-decision"]
    statuses = rows(ctx, "SELECT a.status FROM outbox_actions a JOIN decisions d ON d.id = a.decision_id "
                         "WHERE d.item_id = :item", item=first.item_id)
    assert {r.status for r in statuses} == {"cancelled"}
    assert [tuple(r) for r in rows(ctx, "SELECT status FROM review_items WHERE id = :i", i=first.item_id)] == [
        ("pending",)]
    assert rows(ctx, "SELECT id FROM labels WHERE withdrawn_at IS NULL") == []


def test_a_verdict_without_a_window_offers_no_undo(app: AppTest, people: Any, live_api: str,
                                                   undoable: None) -> None:
    with Client(live_api, people.integration) as integration:
        ingest_uncertain(integration, n=2)
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    at.button(key="verdict-legit").click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "undo-decision"]


def test_the_product_models_fraud_waits_its_window_and_says_so(app: AppTest, ctx: Any, people: Any,
                                                                live_api: str) -> None:
    """models/fraud.py holds a reviewer's "fraud" (refund, ban) for its undo window: the page says how long the
    actions wait and that U undoes it; nothing is delivered meanwhile."""
    window = ctx.registry.model("fraud").undo_window("fraud")
    assert 0 < window <= 60, "a short window: long enough to catch a slip, short enough not to hold refunds"
    with Client(live_api, people.integration) as integration:
        first = ingest_uncertain(integration, n=2)[0]
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    at.button(key="verdict-fraud").click().run()
    assert not at.exception
    [notice] = [shown(i.value) for i in at.info if first.external_id in shown(i.value)]
    seconds = int(notice.split("wait ")[1].split(" s more")[0])
    assert 0 < seconds <= window and "press U to undo" in notice, notice
    assert [b.proto.shortcut for b in at.button if b.key == "undo-decision"] == ["u"]
    statuses = rows(ctx, "SELECT a.status FROM outbox_actions a JOIN decisions d ON d.id = a.decision_id "
                         "WHERE d.item_id = :item", item=first.item_id)
    assert len(statuses) == 4 and {r.status for r in statuses} == {"pending"}
