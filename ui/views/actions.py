"""Actions: where every decision's effects stand (pending, in flight, done, dead); admins replay dead ones."""

from __future__ import annotations

import streamlit as st

from reviewqueue.schemas import ActionOut
from ui import charts, session
from ui import format as fmt

client, me = session.require()
state = st.session_state
RECENT, SCAN = 50, 500


def _replay(action: ActionOut) -> None:
    replayed, problem = session.attempt(client.replay, action.id)
    if session.principal() is None:
        return
    if problem is not None:
        state["actions_error"] = f"Replay of {action.id} failed: {session.error_text(problem)}"
    elif replayed is not None:
        short = fmt.short_id(action.id)
        state["actions_toast"] = f"Replayed {action.connector} action {short}: {replayed.status}"


st.title("Actions")
st.caption("Each decision queues actions (refunds, messages, webhooks, SQL); the worker delivers them. "
           "Every action ends done, or dead with its attempts and last error.")
if toast := state.pop("actions_toast", None):
    st.toast(fmt.md(toast), icon=":material/replay:")
if problem := state.pop("actions_error", None):
    st.error(fmt.md(problem))

counts = session.call(client.action_counts)
if counts is None:
    st.stop()
about = "≈ " if counts.done_estimated else ""  # large tables: done is estimated, the rest exact
tiles: list[tuple[str, int | str]] = [
    ("Pending", counts.pending), ("In flight", counts.in_flight), ("Done", f"{about}{counts.done:,}"),
    ("Dead", counts.dead), ("Refused", counts.refused), ("Total", f"{about}{counts.total:,}")]
for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
    column.metric(label, value)
st.altair_chart(charts.action_counts(fmt.count_rows(counts)), width="stretch")

st.subheader("Dead letters")
dead = session.call(client.actions, status="dead", limit=SCAN) or []
if not dead:
    st.success("No dead actions.", icon=":material/check_circle:")
elif me.role != "admin":
    st.dataframe(fmt.action_rows(dead), hide_index=True, width="stretch")
    st.caption("An admin can replay dead actions.")
else:
    for action in dead:
        with st.container(border=True):
            what, tries, error, button = st.columns([2, 1, 4, 1.2], vertical_alignment="center")
            what.markdown(f"**{action.connector}**  \n`{fmt.short_id(action.id)}` · "
                          f"decision {action.decision_id}")
            what.caption(f"created {fmt.when(action.created_at)}")
            tries.metric("Attempts", action.attempts)
            error.code(action.last_error or "no error recorded", language=None, wrap_lines=True)
            button.button("Replay", key=f"replay-{action.id}", icon=":material/replay:", on_click=_replay,
                          args=(action,), width="stretch")

st.subheader("Refused by action authority")
refused = session.call(client.actions, status="refused", limit=SCAN) or []
if not refused:
    st.caption("No automatic decision has tried an action it may not fire.")
else:
    st.caption("An automatic decision may not fire these (human-only, or past the action's amount or daily "
               "limit): they were never sent, and each item went to a reviewer, whose decision fires them.")
    st.dataframe(fmt.action_rows(fmt.newest_first(refused, RECENT)), hide_index=True, width="stretch")

st.subheader("Recent actions")
listed = session.call(client.actions, limit=SCAN) or []
if listed:
    st.dataframe(fmt.action_rows(fmt.newest_first(listed, RECENT)), hide_index=True, width="stretch")
    if len(listed) == SCAN:
        st.caption(f"The API lists actions oldest first; these are the newest of the first {SCAN}.")
else:
    st.info("No actions yet: they are queued when someone decides an item.")
