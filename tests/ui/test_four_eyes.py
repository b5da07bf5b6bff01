"""Four-eyes on the triage page, driven by AppTest against the real API over the test's database: the button says
a second reviewer is needed, the second reviewer sees the first vote, the senior sees every vote."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

import reviewqueue as rq
from reviewqueue.client import Client
from reviewqueue.domain.states import Role
from tests.factories import create_person
from tests.ui.helpers import APP, ingest_uncertain, rows, shown, sign_in


def claimed(name: str, queue: str | None = None) -> AppTest:
    at = sign_in(AppTest.from_file(APP, default_timeout=30), name, f"{name}-pw")
    at.switch_page("views/triage.py").run()
    if queue is not None:
        at.selectbox(key="triage-queue-select").select(queue).run()
    at.button(key="claim").click().run()
    assert not at.exception
    return at


def test_votes_are_said_on_the_button_and_shown_to_the_next_reviewer_and_the_senior(
        app: AppTest, ctx: Any, people: Any, live_api: str, monkeypatch: Any) -> None:
    monkeypatch.setitem(ctx.registry.model("fraud").four_eyes, "fraud",
                        rq.FourEyes(reviewers=2, above=("amount", 100)))
    create_person(ctx, "senior", Role.REVIEWER, ["fraud-senior"])
    with Client(live_api, people.integration) as integration:
        [event] = ingest_uncertain(integration, n=1)

    first = claimed("reviewer")
    label = shown(first.button(key="verdict-fraud").label)
    assert label.startswith("Fraud — refunds $900.00 on ") and label.endswith(
        "(irreversible), posts to #fraud-alerts, updates users (user_id u_ui0_0), sends a webhook · undo within "
        "30 s · needs a second reviewer"), label
    assert shown(first.button(key="verdict-legit").label) == "Legit — sends a webhook · fires at once, reversible later"
    first.button(key="verdict-fraud").click().run()
    assert not first.exception
    assert [shown(t.value) for t in first.toast] == [
        f"Your fraud vote on {event.external_id} is recorded; a different reviewer decides it"]
    assert rows(ctx, "SELECT count(*) FROM decisions") == [(0,)]

    second = claimed("reviewer2")
    [votes] = [shown(i.value) for i in second.info if "Votes so far" in str(i.value)]
    assert votes.replace("*", "") == "Votes so far: reviewer voted fraud"
    second.button(key="verdict-legit").click().run()
    assert not second.exception
    assert [shown(t.value) for t in second.toast] == [
        f"Reviewers disagree on {event.external_id}: it went to fraud-senior for a senior to decide"]

    senior = claimed("senior")
    [votes] = [shown(i.value) for i in senior.info if "Votes so far" in str(i.value)]
    assert votes.replace("*", "") == "Votes so far: reviewer voted fraud; reviewer2 voted legit"
    [warning] = [shown(w.value) for w in senior.warning]
    assert "four-eyes disagreement: reviewer voted fraud; reviewer2 voted legit" in warning.replace("*", "")
    senior.button(key="verdict-fraud").click().run()
    assert not senior.exception
    assert [tuple(r) for r in rows(ctx, "SELECT actor, verdict FROM decisions")] == [("senior", "fraud")]
