"""Triage's Release (S) and Escalate (E) keys, driven by AppTest against the real API over the test's database."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue.domain.states import Role
from tests.factories import create_person
from tests.ui.helpers import APP, ingest_uncertain, rows, shown, sign_in, texts


def held_item(at: AppTest) -> str:
    [title] = [shown(s.value) for s in at.subheader]
    return title


def test_release_gives_the_item_back_and_shows_the_next_one(app: AppTest, ctx: Any, people: Any,
                                                             live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        first, second = ingest_uncertain(integration, n=2)
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert held_item(at) == first.external_id
    assert at.button(key="release-item").proto.shortcut == "s"
    assert at.button(key="escalate-item").proto.shortcut == "e"

    at.button(key="release-item").click().run()
    assert not at.exception
    assert [shown(t.value) for t in at.toast] == [f"Released {first.external_id}: back in fraud for others"]
    assert held_item(at) == second.external_id  # the next item, not the one just let go
    assert [tuple(r) for r in rows(ctx, "SELECT status, claimed_by FROM review_items WHERE id = :i",
                                   i=first.item_id)] == [("pending", None)]
    with Client(live_api, people.reviewer2) as colleague:  # free for everybody else at once
        assert colleague.claim_next("fraud").id == first.item_id


def test_escalate_needs_a_note_and_the_senior_sees_it(app: AppTest, ctx: Any, people: Any, live_api: str,
                                                       monkeypatch: Any) -> None:
    create_person(ctx, "senior", Role.REVIEWER, ["fraud-senior"])
    with Client(live_api, people.integration) as integration:
        [first] = ingest_uncertain(integration, n=1)
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()

    at.button(key="escalate-item").click().run()  # no note yet: refused here, the item stays mine
    assert not at.exception
    assert "Escalating needs a note" in texts(at)
    assert held_item(at) == first.external_id
    assert [tuple(r) for r in rows(ctx, "SELECT queue, status FROM review_items WHERE id = :i",
                                   i=first.item_id)] == [("fraud", "claimed")]

    at.text_input(key="triage-note").input("Known merchant *but* new card: please decide")
    at.button(key="escalate-item").click().run()
    assert not at.exception
    assert [shown(t.value) for t in at.toast] == [f"Escalated {first.external_id} to fraud-senior"]
    assert [tuple(r) for r in rows(ctx, "SELECT queue, status FROM review_items WHERE id = :i",
                                   i=first.item_id)] == [("fraud-senior", "pending")]
    assert "Queue fraud is empty" in texts(at).replace("*", "")  # the next claim found nothing else

    senior = sign_in(AppTest.from_file(APP, default_timeout=30), "senior", "senior-pw")
    senior.switch_page("views/triage.py").run()
    assert senior.selectbox(key="triage-queue-select").value == "fraud-senior"
    senior.button(key="claim").click().run()
    assert not senior.exception
    assert held_item(senior) == first.external_id
    [warning] = [shown(w.value) for w in senior.warning]
    assert "Escalated by reviewer from queue fraud" in warning.replace("*", "")
    assert warning.endswith("Known merchant *but* new card: please decide")  # shown as typed, not as markup
    assert senior.button(key="release-item") and not [b for b in senior.button if b.key == "escalate-item"]
