"""The Audit log page and server-side sign-out, driven by AppTest against the real API."""

from __future__ import annotations

from typing import Any

import httpx
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from tests.ui.helpers import sign_in, texts


def test_admin_reads_the_audit_log_page_newest_first(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.admin) as admin:
        admin.disable("outsider")
        admin.enable("outsider")
    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/audit.py").run()
    assert not at.exception
    assert "Audit log" in texts(at)
    table = at.dataframe[0].value
    assert list(table["action"]) == ["user.enable", "user.disable"]
    assert set(table["who"]) == {"admin"} and set(table["target"]) == {"principal:outsider"}
    at.text_input(key="audit_action").input("user.disable").run()
    assert list(at.dataframe[0].value["action"]) == ["user.disable"]


def test_signing_out_in_the_ui_revokes_the_token_on_the_server(app: AppTest, people: Any, live_api: str) -> None:
    at = sign_in(app, "reviewer", "reviewer-pw")
    token = at.session_state["rq_client"]._http.headers["Authorization"].removeprefix("Bearer ")
    assert httpx.get(f"{live_api}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    at.button(key="signout").click().run()
    assert not at.exception
    assert httpx.get(f"{live_api}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
