"""The Sandbox page with the sandboxes running: the sink's messages, localstripe's refunds, the demo business
database's banned users, and a demo chargeback that the API takes as Stripe's signed dispute and labels with."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue_dev.demo import create_business_db
from reviewqueue_dev.sandbox.localstripe import LocalStripe
from reviewqueue_dev.sandbox.sink import Sink
from tests.stripe_signing import WEBHOOK_SECRET
from tests.ui.helpers import APP, rows, shown, sign_in, uncertain_events


def test_sandbox_shows_refunds_and_banned_users_and_sends_a_demo_chargeback(
    ctx: Any, live_api: str, people: Any, localstripe: LocalStripe, sink: Sink, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx.settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    refunded, disputed = localstripe.create_charge(1500), localstripe.create_charge(2500)
    localstripe.client.v1.refunds.create(params={"charge": refunded})
    event = {**uncertain_events(1, prefix="sandbox")[0]}
    event["context"] = {**event["context"], "charge_id": disputed}
    with Client(live_api, token=people.integration) as api:
        api.predict("fraud", [event])
    business = tmp_path / "business.db"
    business_url = create_business_db(business, ["u_banned", "u_fine"])
    with sqlite3.connect(business) as conn:
        conn.execute("UPDATE users SET banned = 1, banned_reason = 'fraud', banned_by = 'reviewqueue' "
                     "WHERE id = 'u_banned'")
    for name, value in {"API_URL": live_api, "SANDBOX_URL": sink.url, "BUSINESS_DB_URL": business_url,
                        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                        **{k.upper(): v for k, v in localstripe.settings_fields().items()}}.items():
        monkeypatch.setenv(f"REVIEWQUEUE_{name}", value)

    at = sign_in(AppTest.from_file(APP, default_timeout=30), "admin", "admin-pw")
    at.switch_page("views/sandbox.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Banned users"] == "1"
    assert int(metrics["Refunds"]) >= 1  # the session's localstripe is shared: other tests' refunds count too
    tables = [t.value for t in at.dataframe]
    assert any("refund" in t.columns and refunded in t["charge"].tolist() for t in tables)
    assert any("banned_reason" in t.columns and t["id"].tolist() == ["u_banned"] for t in tables)

    at.selectbox(key="sandbox-dispute-charge").select(disputed).run()
    at.button(key="sandbox-dispute").click().run()
    assert not at.exception
    assert "labelled 1 prediction(s)" in shown(at.success[0].value)
    labels = rows(ctx, "SELECT source FROM labels")
    assert [r.source for r in labels] == ["chargeback"]
