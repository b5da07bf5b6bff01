"""The Actions page shows what action authority refused: a tile with the count and the refused actions with
their reasons, so a refusal is visible, never silent."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from tests.factories import transaction
from tests.ui.helpers import rows, sign_in


def test_an_auto_flag_s_refused_refund_and_ban_show_on_the_actions_page(app: AppTest, ctx: Any, people: Any,
                                                                        live_api: str) -> None:
    event = transaction(1, risky=True)
    with Client(live_api, people.integration) as integration:
        [prediction] = integration.predict("fraud", [event])
    # auto-flagged, but its refund and ban are human-only: they are refused and a person gets the item
    assert prediction.route == "auto_flag" and prediction.item_id is not None
    refused = rows(ctx, "SELECT connector, last_error FROM outbox_actions WHERE status = 'refused' "
                        "ORDER BY connector")
    assert [r.connector for r in refused] == ["sql", "stripe_refund"]

    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/actions.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Refused"] == "2"
    [table] = [d for d in at.dataframe if set(d.value["status"]) == {"refused"}]  # not "Recent actions"
    shown = table.value.sort_values("connector")
    assert list(shown["status"]) == ["refused", "refused"]
    assert list(shown["last error"]) == [r.last_error for r in refused] and all(r.last_error for r in refused)
