"""The Streamlit UI driven by AppTest against the real API (uvicorn on a thread) over the test's database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue.db import principals
from reviewqueue.services import outbox, queue
from reviewqueue_dev.demo import DEMO_USERS, demo_accounts_json
from reviewqueue_dev.sandbox import wait_until
from reviewqueue_dev.sandbox.sink import Sink
from tests.ui.helpers import APP, ingest_uncertain, rows, shown, sign_in, texts
from ui import format as fmt


def test_wrong_password_shows_the_servers_message(app: AppTest, people: Any) -> None:
    at = sign_in(app, "reviewer", "not-the-password")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == ["Sign-in failed: unknown user or wrong password"]
    assert at.text_input(key="signin-name").value == "reviewer"  # still on the sign-in page


def test_reviewer_claims_decides_and_gets_the_next_item(
    app: AppTest, ctx: Any, people: Any, live_api: str
) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=3)
    first, second = queued[0], queued[1]

    at = sign_in(app, "reviewer", "reviewer-pw")
    assert not at.exception
    assert "Signed in as **reviewer**" in texts(at)
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert not at.exception
    page = texts(at)
    assert first.external_id in [shown(s.value) for s in at.subheader]
    assert f"Score: {fmt.percent(first.score)}" in page
    assert "Top reasons:" in page
    verdicts = {shown(b.label): b.proto.shortcut for b in at.button if b.key and b.key.startswith("verdict-")}
    # Streamlit shows the key in the button: not in the label too; the label says what the verdict will do on
    # this event (amount, charge, channel, the customer) and whether it can be undone
    with Client(live_api, people.admin) as admin:
        shown_item = admin.item(first.item_id)
    amount, context = shown_item.features["amount"], shown_item.context
    assert verdicts == {
        f"Fraud — refunds ${amount:,.2f} on {context['charge_id']} (irreversible), posts to #fraud-alerts, "
        f"updates users (user_id {context['user_id']}), sends a webhook · undo within 30 s": "f",
        "Legit — sends a webhook · fires at once, reversible later": "l"}

    at.text_input(key="triage-note").input("card testing pattern")
    at.button(key="verdict-fraud").click().run()
    assert not at.exception

    decided = rows(ctx, "SELECT d.id, d.verdict, d.source, d.actor, d.note, i.status FROM decisions d "
                        "JOIN review_items i ON i.id = d.item_id WHERE i.id = :item", item=first.item_id)
    assert [tuple(r)[1:] for r in decided] == [
        ("fraud", "reviewer", "reviewer", "card testing pattern", "decided")]
    decision_id = decided[0].id
    labels = rows(ctx, "SELECT value, source, actor FROM labels WHERE decision_id = :d", d=decision_id)
    assert [tuple(r) for r in labels] == [("fraud", "reviewer", "reviewer")]
    actions = rows(ctx, "SELECT connector, status FROM outbox_actions WHERE decision_id = :d "
                        "ORDER BY connector", d=decision_id)
    assert [tuple(r) for r in actions] == [("slack_message", "pending"), ("sql", "pending"),
                                           ("stripe_refund", "pending"), ("webhook", "pending")]

    assert [shown(t.value) for t in at.toast] == ["Decided fraud: 4 actions queued"]
    assert second.external_id in [shown(s.value) for s in at.subheader]  # the next item came up by itself
    assert at.text_input(key="triage-note").value == ""
    held = rows(ctx, "SELECT status, claimed_by FROM review_items WHERE id = :item", item=second.item_id)
    assert [tuple(r) for r in held] == [("claimed", people.ids["reviewer"])]


def test_empty_queue_is_friendly(app: AppTest, people: Any) -> None:
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert not at.exception
    assert any("is empty" in i.value for i in at.info)


def test_admin_sees_dead_letters_and_replays_one(app: AppTest, ctx: Any, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        item_id = ingest_uncertain(integration, n=1)[0].item_id
    with Client(live_api, people.reviewer) as reviewer:
        lease = reviewer.claim_next("fraud")
        assert lease is not None and lease.id == item_id and lease.lease_token
        reviewer.decide(item_id, "legit", lease.lease_token)  # one action: the webhook
    dispatcher = outbox.Dispatcher(ctx, {}, "ui-test")  # no connectors: every action is dead at once
    try:
        assert dispatcher.run_once() == 1
    finally:
        dispatcher.close()
    dead_id = rows(ctx, "SELECT id FROM outbox_actions WHERE status = 'dead'")[0].id

    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/actions.py").run()
    assert not at.exception
    counts = {m.label: m.value for m in at.metric}
    assert counts["Dead"] == "1" and counts["Total"] == "1" and counts["Pending"] == "0"
    assert "ConnectorNotConfigured" in "\n".join(c.value for c in at.code)

    at.button(key=f"replay-{dead_id}").click().run()
    assert not at.exception
    assert [tuple(r) for r in rows(ctx, "SELECT status, attempts FROM outbox_actions")] == [("pending", 0)]
    assert at.toast[0].value.startswith("Replayed webhook action")
    assert {m.label: m.value for m in at.metric}["Pending"] == "1"


def test_reviewer_sees_actions_without_replay(app: AppTest, people: Any) -> None:
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/actions.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Total"] == "0"
    assert not [b for b in at.button if b.key and b.key.startswith("replay-")]


def test_queues_and_models_pages_render(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        ingest_uncertain(integration, n=2)
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    assert not at.exception
    # Queues is the landing page; fraud's card comes first (then fraud-senior, its escalation queue: empty)
    assert [m.value for m in at.metric if m.label == "Pending"] == ["2", "0"]
    at.switch_page("views/models.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion"] == "v1"
    assert at.button(key="retrain-fraud")


def test_lost_lease_warns_and_offers_the_next_item(
    app: AppTest, ctx: Any, people: Any, live_api: str
) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=2)
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert queued[0].external_id in [shown(s.value) for s in at.subheader]
    with ctx.engine.begin() as conn:  # the reviewer walked away: the lease ran out, a colleague took the item
        conn.execute(text("UPDATE review_items SET lease_expires_at = :past WHERE id = :i"),
                     {"past": datetime(2000, 1, 1, tzinfo=UTC), "i": queued[0].item_id})
    # the worker's lease sweep (every 2 s; a claim also sweeps, at most once a second per API process)
    assert queue.release_expired(ctx) == 1
    with Client(live_api, people.reviewer2) as colleague:
        taken = colleague.claim_next("fraud")
    assert taken is not None and taken.id == queued[0].item_id

    # the heartbeat's next renewal (once a minute while the item is open) fails: said before any verdict
    at.session_state["triage_renewed_at"] = datetime(2000, 1, 1, tzinfo=UTC)
    at.run()
    assert not at.exception
    assert len(at.warning) == 1
    assert "lease" in shown(at.warning[0].value) and queued[0].external_id in shown(at.warning[0].value)
    assert not [b for b in at.button if b.key and b.key.startswith("verdict-")]
    at.button(key="claim").click().run()
    assert queued[1].external_id in [shown(s.value) for s in at.subheader]
    assert not at.warning


def test_sign_out_returns_to_sign_in(app: AppTest, people: Any) -> None:
    at = sign_in(app, "reviewer", "reviewer-pw")
    at.button(key="signout").click().run()
    assert not at.exception
    assert at.text_input(key="signin-name").value == ""
    assert "Signed in as" not in texts(at)


def test_data_scientist_retrains_from_the_models_page(app: AppTest, ctx: Any, people: Any) -> None:
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    at.button(key="retrain-fraud").click().run()  # the API answers at once; the run trains after
    assert not at.exception
    [run] = rows(ctx, "SELECT id, trigger FROM training_runs")
    assert run.trigger == "manual"
    wait_until(lambda: rows(ctx, "SELECT status FROM training_runs")[0].status != "running", timeout=120,
               what="the retrain to end")
    at.run()  # the progress fragment's next poll sees it ended: the page explains the decision
    assert not at.exception
    assert f"Run {run.id}" in texts(at)


def test_sandbox_page_shows_the_sinks_messages(
    live_api: str, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sink() as sink:
        message = {"channel": "#fraud-alerts", "text": "tx-1 is fraud"}
        httpx.post(f"{sink.slack_base_url}chat.postMessage", json=message,
                   headers={"Authorization": f"Bearer {sink.slack_token}"}).raise_for_status()
        monkeypatch.setenv("REVIEWQUEUE_API_URL", live_api)
        monkeypatch.setenv("REVIEWQUEUE_SANDBOX_URL", sink.url)
        monkeypatch.setenv("REVIEWQUEUE_BUSINESS_DB_HINT", "sqlite3 var/business.db 'select * from users'")
        at = sign_in(AppTest.from_file(APP, default_timeout=30), "admin", "admin-pw")
        at.switch_page("views/sandbox.py").run()
        assert not at.exception
        assert {m.label: m.value for m in at.metric} == {"Slack messages": "1", "Webhooks received": "0"}
        assert at.dataframe[0].value["text"].tolist() == ["tx-1 is fraud"]
        assert "var/business.db" in at.info[0].value
    at.run()  # the sink is gone: a warning, not a traceback
    assert not at.exception
    assert "not answering" in shown(at.warning[0].value)


def test_revoked_session_goes_back_to_sign_in(app: AppTest, ctx: Any, people: Any) -> None:
    at = sign_in(app, "reviewer", "reviewer-pw")
    with ctx.engine.begin() as conn:  # through the named statement: the API's token cache hears of it at once
        reviewer = principals.principal_by_name(conn, "reviewer")
        assert reviewer is not None
        principals.revoke_principal_tokens(conn, reviewer.id, datetime.now(UTC))
    at.run()
    assert not at.exception
    assert at.text_input(key="signin-name").value == ""
    assert len(at.warning) == 1 and shown(at.warning[0].value).startswith("Your session ended")


def test_unreachable_api_and_demo_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("REVIEWQUEUE_DEMO", "1")
    monkeypatch.setenv("REVIEWQUEUE_DEMO_ACCOUNTS", demo_accounts_json())  # as `reviewqueue run` sets it
    at = sign_in(AppTest.from_file(APP, default_timeout=30), "reviewer", "reviewer-pw")
    assert not at.exception
    assert at.error[0].value.startswith("Sign-in failed: Cannot reach the API at http://127.0.0.1:9")
    # every account the demo seeder creates, the clinician included, and no other
    listed = re.findall(r"^- `([^`]+)` / `([^`]+)`", at.info[0].value, flags=re.MULTILINE)
    assert listed == [(name, password) for name, password, _, _ in DEMO_USERS]
    assert "cleo / cleo-demo: reviewer, triages clinical, clinical-learning" in shown(at.info[0].value)


def test_start_triage_from_queues_claims_at_once(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=1)
    at = sign_in(app, "reviewer", "reviewer-pw")
    assert {m.label: m.value for m in at.metric}["Pending"] == "1"
    at.button(key="start-fraud").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Triage"]
    assert queued[0].external_id in [shown(s.value) for s in at.subheader]
    assert any(c.value.endswith("left)") for c in at.caption)  # the lease clock


def test_data_scientist_promotes_a_version_and_rolls_back_from_the_models_page(
        app: AppTest, ctx: Any, people: Any, trained_fraud: dict[str, Any]) -> None:
    from tests.factories import install_version

    install_version(ctx, {**trained_fraud, "version": 2, "status": "rejected", "promoted_at": None})
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert at.button(key="promote-fraud").disabled  # no reason yet
    at.text_input(key="serve-reason-fraud").input("better on last week's chargebacks").run()
    at.selectbox(key="serve-version-fraud").select(2).run()
    at.button(key="promote-fraud").click().run()
    assert not at.exception
    assert any("v2 serves instead of v1, by data_scientist" in shown(s.value) for s in at.success), texts(at)
    assert [r.status for r in rows(ctx, "SELECT status FROM model_versions ORDER BY version")] == [
        "retired", "champion"]
    assert any(m.value == "v2" for m in at.metric if m.label == "Champion")
    at.text_input(key="serve-reason-fraud").input("complaints").run()
    at.button(key="rollback-fraud").click().run()
    assert [r.status for r in rows(ctx, "SELECT status FROM model_versions ORDER BY version")] == [
        "champion", "retired"]



def test_models_page_shows_the_shadow_comparison(app: AppTest, ctx: Any, people: Any,
                                                 trained_fraud: dict[str, Any], live_api: str) -> None:
    from tests.factories import install_version

    install_version(ctx, {**trained_fraud, "version": 2, "status": "rejected", "promoted_at": None})
    with Client(live_api, people.data_scientist) as scientist:
        scientist.start_shadow("fraud", 2, "same artefact, as a dry run")
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert any(shown(i.value).startswith("Shadow: v2 in shadow scored 0 predictions") for i in at.info), texts(at)
