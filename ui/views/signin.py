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

# what each role may do, in words (the accounts themselves come from the demo seeder: Settings.demo_accounts)
ROLE_WORDS = {"admin": "everything, and replays dead actions", "data_scientist": "models, versions, retraining",
              "integration": "sends events and outcomes (API only)"}


def account_line(name: str, password: str, role: str, queues: list[str]) -> str:
    """One demo account, as the list shows it (the seeder's values: code spans, never markup)."""
    does = f"triages {', '.join(queues)}" if role == "reviewer" and queues else ROLE_WORDS.get(role, "")
    return (f"- {fmt.code_span(name)} / {fmt.code_span(password)}: {fmt.md(role.replace('_', ' '))}"
            + (f", {fmt.md(does)}" if does else ""))


accounts = session.settings().demo_accounts
if session.settings().demo and accounts:
    left.info("**Demo accounts**\n" + "\n".join(account_line(*a) for a in accounts), icon=":material/info:")
