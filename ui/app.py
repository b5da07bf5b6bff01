"""reviewqueue's web UI: `streamlit run ui/app.py` (or `reviewqueue ui`), over the API at REVIEWQUEUE_API_URL.

This entry point only decides which pages the signed-in person sees and draws the sidebar; each page under
ui/views/ loads through reviewqueue.client, makes its call and presents the result. (Not ui/pages/: Streamlit
treats a folder of that name as the old automatic multipage app, and AppTest then runs a page file without
this entry point.)
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ (not the repository root) on sys.path; make `ui` and `reviewqueue`
# importable when the package is not installed.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from ui import format as fmt  # noqa: E402
from ui import session  # noqa: E402

PAGES = {
    "signin": ("views/signin.py", "Sign in", ":material/login:"),
    "queues": ("views/queues.py", "Queues", ":material/inbox:"),
    "triage": ("views/triage.py", "Triage", ":material/gavel:"),
    "actions": ("views/actions.py", "Actions", ":material/bolt:"),
    "models": ("views/models.py", "Models", ":material/model_training:"),
    "monitor": ("views/monitor.py", "Monitor", ":material/monitoring:"),
    "audit": ("views/audit.py", "Audit log", ":material/history:"),
    "sandbox": ("views/sandbox.py", "Sandbox", ":material/science:"),
}

st.set_page_config(page_title="reviewqueue", page_icon=":material/fact_check:", layout="wide")

session.restore()  # a session cookie from an earlier page load signs in again; a ?item= deep link is kept
who = session.principal()
names = ("signin",) if who is None else fmt.pages_for(who.pages, sandbox=session.sandbox_url() is not None)
# a followed deep link opens on the triage page, which takes it
start = "triage" if session.deep_link() is not None and "triage" in names else names[0]
pages = [st.Page(PAGES[n][0], title=PAGES[n][1], icon=PAGES[n][2], default=n == start) for n in names]
current = st.navigation(pages)

with st.sidebar:
    if who is not None:
        with st.container(border=True):
            st.markdown(f"Signed in as **{fmt.md(who.name)}**")
            st.caption(fmt.md(session.describe(who)))
            if st.button("Sign out", key="signout", icon=":material/logout:", width="stretch"):
                session.sign_out()
                st.rerun()
    st.caption(f"API: {session.api_url()}")

current.run()
