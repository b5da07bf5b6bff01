"""The triage page informs (issue 11 point 3), under AppTest over the live API: the customer's other
predictions beside the item, deep links (`/?item=ID`) that open the item after sign-in (claimed, read-only, or
"not found" without telling other queues what exists), "My decisions" with search, and the lease heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from tests.ui.helpers import ingest_uncertain, rows, shown, sign_in, texts


def test_the_customers_history_shows_beside_the_item(app: AppTest, people: Any, live_api: str, ctx: Any) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=3, prefix="hist")
    with ctx.engine.begin() as conn:  # one customer: the events' user_id (the fraud model's history_key) alike
        conn.execute(text("UPDATE predictions SET subject = 'u_same', context = :c"),
                     {"c": '{"charge_id": "ch_1", "user_id": "u_same", "currency": "usd"}'})
    with Client(live_api, people.reviewer) as reviewer:
        done = reviewer.claim_next("fraud")
        assert done is not None and done.lease_token
        reviewer.decide(done.id, "legit", done.lease_token, note="known customer")
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert not at.exception
    shown_id = [shown(s.value) for s in at.subheader][0]
    [table] = [d.value for d in at.dataframe if "decision" in d.value.columns]
    others = {e.external_id for e in queued} - {shown_id}
    assert set(table["external id"]) == others  # the item itself is not its own history
    decided = table[table["external id"] == done.external_id].iloc[0]
    assert (decided["decision"], decided["by"]) == ("legit", "reviewer")
    assert "History of user_id" in texts(at) and "newest first" in texts(at)


def test_a_deep_link_opens_the_item_after_sign_in(app: AppTest, people: Any, live_api: str, ctx: Any) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=2, prefix="link")
    target = queued[1]  # not the one claim-next would give
    app.query_params["item"] = str(target.item_id)
    at = sign_in(app, "reviewer", "reviewer-pw")
    assert not at.exception
    assert [t.value for t in at.title] == ["Triage"]
    assert target.external_id in [shown(s.value) for s in at.subheader]
    assert [b for b in at.button if b.key == "verdict-fraud"]  # it is mine to decide
    [row] = rows(ctx, "SELECT status, claimed_by FROM review_items WHERE id = :i", i=target.item_id)
    assert (row.status, row.claimed_by) == ("claimed", people.ids["reviewer"])
    assert "item" not in at.query_params  # taken: a reload does not open it again

    # the same link for a colleague: read-only, saying why, no verdict buttons
    other = AppTest.from_file(app._script_path, default_timeout=30)
    other.query_params["item"] = str(target.item_id)
    other = sign_in(other, "reviewer2", "reviewer2-pw")
    assert not other.exception
    assert "Read-only" in texts(other) and "another reviewer is working on it" in texts(other)
    assert not [b for b in other.button if b.key and b.key.startswith("verdict-")]

    # a reviewer of another queue learns nothing about it
    outsider = AppTest.from_file(app._script_path, default_timeout=30)
    outsider.query_params["item"] = str(target.item_id)
    outsider = sign_in(outsider, "outsider", "outsider-pw")
    assert not outsider.exception
    assert any(f"Item {target.item_id} was not found" in shown(e.value) for e in outsider.error)
    assert target.external_id not in texts(outsider)


def test_my_decisions_lists_and_searches_mine(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=2, prefix="mine")
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    at.button(key="verdict-legit").click().run()
    at.button(key="verdict-legit").click().run()
    assert not at.exception
    at.session_state["triage-view"] = "My decisions"
    at.run()
    [table] = [d.value for d in at.dataframe if "verdict" in d.value.columns]
    assert sorted(table["external id"]) == sorted(e.external_id for e in queued)
    assert set(table["verdict"]) == {"legit"}
    at.text_input(key="mine-search").input(queued[0].external_id).run()
    assert list(at.dataframe[0].value["external id"]) == [queued[0].external_id]
    at.text_input(key="mine-search").input("nothing-like-it").run()
    assert "No decisions of yours match." in texts(at)


def test_the_heartbeat_renews_the_open_items_lease(app: AppTest, people: Any, live_api: str, ctx: Any) -> None:
    with Client(live_api, people.integration) as integration:
        [event] = ingest_uncertain(integration, n=1, prefix="beat")
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    at.session_state["triage_heartbeats"] = beats = 0
    [before] = rows(ctx, "SELECT lease_expires_at FROM review_items WHERE id = :i", i=event.item_id)
    at.run()  # within the minute: no renewal
    assert (at.session_state["triage_heartbeats"]) == beats
    at.session_state["triage_renewed_at"] = datetime(2000, 1, 1, tzinfo=UTC)  # a minute and more later
    at.run()
    assert not at.exception
    assert at.session_state["triage_heartbeats"] == beats + 1
    [after] = rows(ctx, "SELECT lease_expires_at FROM review_items WHERE id = :i", i=event.item_id)
    assert after.lease_expires_at > before.lease_expires_at
    assert event.external_id in [shown(s.value) for s in at.subheader] and not at.warning
