"""Audit log: every admin act (replays, retrains, promotions, rollbacks, shadows, user and token changes), newest
first, with who did it, on what, when and the details. Admins only (the audit.read permission)."""

from __future__ import annotations

import json

import streamlit as st

from ui import format as fmt
from ui import session

client, me = session.require()
state = st.session_state
PAGE = 50

st.title("Audit log")
st.caption("Admin acts, newest first. Nothing here can be changed or deleted.")
action = st.text_input("Only this action (e.g. model.promote, token.revoke)", key="audit_action").strip() or None
before = state.get("audit_before")
entries = session.call(client.audit, before_id=before, action=action, limit=PAGE)
if entries is None:
    st.stop()
if not entries:
    st.info("No admin acts recorded yet." if before is None else "No older entries.")
else:
    rows = [{"id": e.id, "when": fmt.when(e.at), "who": e.actor, "action": e.action, "target": e.target,
             "detail": json.dumps(e.detail, sort_keys=True, ensure_ascii=False)} for e in entries]
    st.dataframe(rows, hide_index=True, width="stretch")
newer, older = st.columns(2)
if before is not None and newer.button("Newest", key="audit_newest", icon=":material/first_page:"):
    state.pop("audit_before", None)
    st.rerun()
if entries and len(entries) == PAGE and older.button("Older", key="audit_older", icon=":material/navigate_next:"):
    state["audit_before"] = entries[-1].id
    st.rerun()
