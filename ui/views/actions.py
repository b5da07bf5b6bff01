"""Actions: where every decision's effects stand (pending, in flight, done, dead), newest first; admins replay
one dead letter, or every dead letter a filter matches after seeing how many that is."""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from reviewqueue.schemas import ActionOut
from ui import charts, session
from ui import format as fmt

client, me = session.require()
state = st.session_state
PAGE, DEAD_PAGE = 50, 20
ANY = "any"
CAN_REPLAY = "actions.replay" in me.permissions


class ReplayFilter(NamedTuple):
    connector: str | None
    model: str | None
    error: str | None


def _replay(action: ActionOut) -> None:
    replayed, problem = session.attempt(client.replay, action.id)
    if session.principal() is None:
        return
    if problem is not None:
        state["actions_error"] = f"Replay of {action.id} failed: {session.error_text(problem)}"
    elif replayed is not None:
        short = fmt.short_id(action.id)
        state["actions_toast"] = f"Replayed {action.connector} action {short}: {replayed.status}"


def _replay_matching(chosen: ReplayFilter, expected: int) -> None:
    """Confirmed: replay the dead letters the filter matched, refused by the API if their number changed."""
    state.pop("replay_preview", None)
    done, problem = session.attempt(client.replay_matching, *chosen, expected=expected)
    if session.principal() is None:
        return
    if problem is not None:
        state["actions_error"] = f"Replay of the matching dead letters failed: {session.error_text(problem)}"
    elif done is not None:
        state["actions_toast"] = f"Replayed {done.replayed} dead actions; the worker delivers them next"


def _pager(key: str, shown: list[ActionOut], size: int) -> ActionOut | None:
    """Newer / Older buttons over a newest-first list: a stack of cursors (each the last action of a page
    before) in the session; returns the cursor of the page to show."""
    stack: list[ActionOut] = state.setdefault(key, [])

    def newer_page() -> None:
        if stack:
            stack.pop()

    def older_page() -> None:
        stack.append(shown[-1])

    newer, older, where = st.columns([1, 1, 4], vertical_alignment="center")
    newer.button("Newer", key=f"{key}-newer", icon=":material/chevron_left:", disabled=not stack,
                 on_click=newer_page, width="stretch")
    older.button("Older", key=f"{key}-older", icon=":material/chevron_right:", disabled=len(shown) < size,
                 on_click=older_page, width="stretch")
    where.caption(f"Page {len(stack) + 1}, newest first")
    return stack[-1] if stack else None


def _page(key: str, status: str | None, size: int) -> list[ActionOut]:
    stack: list[ActionOut] = state.get(key, [])
    return session.call(client.actions, status=status, before=stack[-1] if stack else None, limit=size) or []


def _dead_letter_card(action: ActionOut) -> None:
    with st.container(border=True):
        what, tries, error, button = st.columns([2.4, 0.8, 4, 1.2], vertical_alignment="center")
        what.markdown(f"**{fmt.md(action.connector)}** `{fmt.short_id(action.id)}`  \n"
                      f"{fmt.md(fmt.action_subject(action))}")
        what.caption(f"created {fmt.when(action.created_at)} · decision {action.decision_id or fmt.DASH}")
        tries.metric("Attempts", action.attempts)
        error.code(action.last_error or "no error recorded", language=None, wrap_lines=True)
        if CAN_REPLAY:
            button.button("Replay", key=f"replay-{action.id}", icon=":material/replay:", on_click=_replay,
                          args=(action,), width="stretch")


def _replay_matching_panel(dead: list[ActionOut]) -> None:
    """Admin: pick a connector, model and error text; count the dead letters that match; replay them all."""
    models = [m.name for m in session.call(client.models) or []]
    connectors = sorted({a.connector for a in dead})
    with st.expander("Replay every dead letter that matches", icon=":material/replay:"):
        pick_connector, pick_model, pick_error = st.columns(3)
        connector = pick_connector.selectbox("Connector", [ANY, *connectors], key="replay-connector")
        model = pick_model.selectbox("Model", [ANY, *models], key="replay-model")
        error = pick_error.text_input("Last error contains", key="replay-error", max_chars=200).strip()
        chosen = ReplayFilter(None if connector == ANY else connector, None if model == ANY else model,
                              error or None)
        if st.button("Count matching dead letters", key="replay-count", icon=":material/filter_alt:"):
            preview = session.call(client.replay_matching, *chosen, dry_run=True)
            if preview is not None:
                state["replay_preview"] = (chosen, preview.matched)
        counted = state.get("replay_preview")
        if counted is None or counted[0] != chosen:
            st.caption("Count first: the replay then sends exactly that many (same action ids, so each effect "
                       "still happens once), and the audit log records the filter and the count.")
            return
        matched = counted[1]
        if matched == 0:
            st.info("No dead action matches this filter.")
            return
        st.warning(f"{matched} dead action{'s' if matched != 1 else ''} match. Replaying sends each again now.")
        st.button(f"Replay {matched}", key="replay-confirm", type="primary", icon=":material/replay:",
                  on_click=_replay_matching, args=(chosen, matched))


def _tiles() -> None:
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


def _dead_letters() -> None:
    st.subheader("Dead letters")
    dead = _page("dead_cursors", "dead", DEAD_PAGE)
    if not dead and not state.get("dead_cursors"):
        st.success("No dead actions.", icon=":material/check_circle:")
        return
    if CAN_REPLAY:
        _replay_matching_panel(dead)
    else:
        st.caption("An admin can replay dead actions.")
    for action in dead:
        _dead_letter_card(action)
    _pager("dead_cursors", dead, DEAD_PAGE)


def _refused() -> None:
    st.subheader("Refused by action authority")
    refused = session.call(client.actions, status="refused", limit=PAGE) or []
    if not refused:
        st.caption("No automatic decision has tried an action it may not fire.")
        return
    st.caption("An automatic decision may not fire these (human-only, or past the action's amount or daily "
               "limit): they were never sent, and each item went to a reviewer, whose decision fires them. "
               f"The newest {PAGE}.")
    st.dataframe(fmt.action_rows(refused), hide_index=True, width="stretch")


def _recent() -> None:
    st.subheader("Recent actions")
    listed = _page("recent_cursors", None, PAGE)
    if listed:
        st.dataframe(fmt.action_rows(listed), hide_index=True, width="stretch")
    elif not state.get("recent_cursors"):
        st.info("No actions yet: they are queued when someone decides an item.")
        return
    _pager("recent_cursors", listed, PAGE)


st.title("Actions")
st.caption("Each decision queues actions (refunds, messages, webhooks, SQL); the worker delivers them. "
           "Every action ends done, or dead with its attempts and last error.")
if toast := state.pop("actions_toast", None):
    st.toast(fmt.md(toast), icon=":material/replay:")
if problem := state.pop("actions_error", None):
    st.error(fmt.md(problem))
_tiles()
_dead_letters()
_refused()
_recent()
