"""Sign in with a name and password; the server's refusal is shown as it is."""

from __future__ import annotations

import httpx
import streamlit as st

from reviewqueue import errors
from ui import format as fmt
from ui import session

st.title("reviewqueue")
st.caption("Human review for model predictions: triage uncertain ones, act on verdicts, learn from labels.")

if flash := session.pop_flash():
    st.warning(fmt.md(flash))

left, _ = st.columns([2, 3])
with left, st.form("signin", border=True):
    st.subheader("Sign in")
    name = st.text_input("Name", key="signin-name", autocomplete="username")
    password = st.text_input("Password", type="password", key="signin-password",
                             autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", key="signin-submit", type="primary", icon=":material/login:")

if submitted:
    if not name.strip() or not password:
        left.error("Enter your name and password.")
    else:
        try:
            session.sign_in(name.strip(), password)
        except (errors.ReviewQueueError, httpx.HTTPError) as exc:
            left.error(f"Sign-in failed: {session.error_text(exc)}")
        else:
            st.rerun()

if session.settings().demo:
    left.info(
        "**Demo accounts**\n"
        "- `ana` / `ana-demo`: reviewer, triages the fraud queue\n"
        "- `admin` / `admin-demo`: everything, and replays dead actions\n"
        "- `dan` / `dan-demo`: data scientist: models, versions, retraining",
        icon=":material/info:",
    )
