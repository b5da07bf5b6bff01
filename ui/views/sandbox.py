"""Sandbox: what the demo's local Slack and webhook receivers got, so each decision's effects are visible."""

from __future__ import annotations

from typing import Any

import httpx
import streamlit as st

from ui import format as fmt
from ui import session

session.require()
url = session.sandbox_url()
st.title("Sandbox")
st.caption("The demo sends Slack messages and webhooks to a local sink instead of the real services.")
if url is None:
    st.info("No sandbox configured (REVIEWQUEUE_SANDBOX_URL).")
    st.stop()

st.button("Refresh", key="sandbox-refresh", icon=":material/refresh:")
received: dict[str, Any] | None = None
try:
    response = httpx.get(f"{url.rstrip('/')}/sandbox/messages", timeout=3)
    response.raise_for_status()
    received = response.json()
except (httpx.HTTPError, ValueError) as exc:
    st.warning(f"The sandbox at {fmt.md(url)} is not answering ({fmt.md(exc)}). It starts with `reviewqueue run`.",
               icon=":material/cloud_off:")

if received is not None:
    slack = list(received.get("slack") or [])
    hooks = list(received.get("webhooks") or [])
    left, right = st.columns(2)
    left.metric("Slack messages", len(slack))
    right.metric("Webhooks received", len(hooks))
    st.subheader("Slack")
    if slack:
        st.dataframe(list(reversed(fmt.slack_rows(slack))), hide_index=True, width="stretch")
    else:
        st.caption("No Slack messages yet: decide an item as fraud.")
    st.subheader("Webhooks")
    if hooks:
        st.dataframe(list(reversed(fmt.webhook_rows(hooks))), hide_index=True, width="stretch")
        for hook in list(reversed(hooks))[:10]:
            with st.expander(f"Payload of {fmt.md(hook.get('webhook_id', ''))}"):
                st.json(hook.get("payload"))
    else:
        st.caption("No webhooks yet: every verdict sends one.")

if hint := session.settings().business_db_hint:
    st.subheader("Business database")
    st.info(hint, icon=":material/database:")
