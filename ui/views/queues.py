"""Queues: depth, claimed now, oldest pending age and items past their SLA of each queue; start triage on one.

Decision queues are ranked by risk (the riskiest first); learning queues by the model's uncertainty, filled up
to a daily budget: their items teach the next model most, and carry no SLA.
"""

from __future__ import annotations

import streamlit as st

from ui import charts, session
from ui import format as fmt

client, me = session.require()
st.title("Queues")

queues = session.call(client.queues)
if queues is None:
    st.stop()
if not queues:
    st.info("No queues yet: they appear once a model is registered.")
    st.stop()

mine = set(me.review_queues)
st.altair_chart(charts.queue_depth(fmt.queue_depth_rows(queues)), width="stretch")

for q in queues:
    with st.container(border=True):
        name, pending, claimed, oldest, overdue, action = st.columns([2, 1, 1, 1, 1, 1.2],
                                                                     vertical_alignment="center")
        name.subheader(fmt.md(q.queue))
        learning = q.kind == "learning"
        kind = {"learning": ":violet-badge[:material/school: learning]",
                "escalation": ":orange-badge[:material/supervisor_account: escalation]"}.get(
            q.kind, ":gray-badge[:material/gavel: decision]")
        name.markdown(f"{kind} {fmt.queue_kind_text(q.kind)}")
        if q.overdue:
            name.markdown(f":red-badge[:material/alarm: {q.overdue} overdue]")
        name.caption(f"model: {fmt.md(q.model or '—')}")
        pending.metric("Pending", q.pending)
        claimed.metric("Claimed now", q.claimed)
        oldest.metric("Oldest pending", fmt.human_age(q.oldest_age_seconds),
                      help=f"since {fmt.when(q.oldest_pending_at)}" if q.oldest_pending_at else None)
        overdue.metric("Overdue", "—" if learning else q.overdue, delta=fmt.overdue_delta(q.overdue),
                       delta_color="inverse", delta_arrow="off",
                       help="Learning queues have no SLA" if learning else
                       "High-risk pending items past their SLA (the on-call channel is paged for each)")
        if q.queue in mine and action.button("Start triage", key=f"start-{q.queue}", type="primary",
                                             icon=":material/play_arrow:", width="stretch"):
            st.session_state["triage_queue"] = q.queue
            st.session_state["triage_autoclaim"] = True
            st.switch_page("views/triage.py")
