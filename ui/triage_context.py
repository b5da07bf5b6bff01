"""What the triage page shows around the item: the subject's history (their other predictions and how each was
decided), a deep-linked item's read-only banner, and the reviewer's own recent decisions with search.

Every value here came from a client (external ids, verdict notes, context values) and is escaped (``fmt.md``)
or shown in a dataframe, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import HistoryEntry, ItemOut, MyDecisionOut, OpenedItem
from ui import format as fmt
from ui import session

__all__ = ["decision_rows", "history_panel", "history_rows", "my_decisions", "read_only_banner"]

HISTORY_SHOWN = 20
DECISIONS_PAGE = 25
# the my-decisions view's keyset cursor stack: the before_id of each page shown so far (None: the newest)
PAGES_KEY, SEARCH_KEY = "mine_pages", "mine-search"


def _decision_text(verdict: str | None, item_status: str | None) -> str:
    if verdict is not None:
        return verdict
    return {"claimed": "in review", "pending": "waiting for review"}.get(item_status or "", "not decided")


def history_rows(entries: Iterable[HistoryEntry], now: datetime) -> list[dict[str, Any]]:
    """One row per other prediction of the subject, newest first: when, what, score, route, the decision and
    who made it ("model" for an automatic decision)."""
    return [{
        "when": f"{fmt.human_age(fmt.age_seconds(e.created_at, now))} ago",
        "external id": e.external_id,
        "amount": fmt.headline_amount(e.features, e.context) or fmt.DASH,
        "score": fmt.percent(e.score),
        "route": e.route_label or e.route,
        "decision": _decision_text(e.verdict, e.item_status),
        "by": ("model" if e.decision_source == "model" else e.decided_by) or fmt.DASH,
    } for e in entries]


def history_panel(client: Client, item: ItemOut, now: datetime) -> None:
    """The subject's other predictions (the model's declared history key), newest first, limited."""
    history = session.call(client.item_history, item.id, HISTORY_SHOWN)
    if history is None:
        return
    if history.key is None:
        st.markdown("**History**")
        st.caption(f"Model {fmt.md(item.model)} declares no history key (history_key=…), so related "
                   "predictions cannot be found.")
        return
    who = f"{fmt.md(history.key)} {fmt.code_span(history.subject)}" if history.subject else fmt.md(history.key)
    st.markdown(f"**History of {who}**")
    if history.subject is None:
        st.caption(f"This event carries no {fmt.md(history.key)}.")
    elif not history.entries:
        st.caption(f"No other predictions of this {fmt.md(history.key)} on the queues you may see.")
    else:
        st.dataframe(history_rows(history.entries, now), hide_index=True, width="stretch", key="history-table")
        more = " (the newest shown)" if len(history.entries) >= history.limit else ""
        st.caption(f"{len(history.entries)} other prediction{'s' if len(history.entries) != 1 else ''}{more}, "
                   "newest first; decisions that were undone are left out.")


def read_only_banner(opened: OpenedItem, now: datetime) -> None:
    """Why a deep-linked item is shown but not yours to decide, and its decision when it has one."""
    st.warning(f"**Read-only**: item #{opened.item.id} is not yours to decide now — "
               f"{fmt.md(opened.read_only_reason or 'not claimable')}.", icon=":material/visibility:")
    decision = opened.decision
    if decision is not None:
        note = f": “{fmt.md(decision.note)}”" if decision.note else ""
        by = "the model" if decision.source == "model" else f"**{fmt.md(decision.actor)}**"
        st.info(f"Decided **{fmt.md(decision.verdict)}** by {by}, "
                f"{fmt.human_age(fmt.age_seconds(decision.created_at, now))} ago{note}",
                icon=":material/gavel:")


def decision_rows(decisions: Iterable[MyDecisionOut], now: datetime) -> list[dict[str, Any]]:
    """One row per decision of mine, newest first."""
    return [{
        "when": f"{fmt.human_age(fmt.age_seconds(d.created_at, now))} ago",
        "external id": d.external_id,
        "verdict": d.verdict + (" (undone)" if d.undone_at else " (reversed)" if d.reversed_at else ""),
        "score": fmt.percent(d.score),
        "queue": d.queue or fmt.DASH,
        "item": d.item_id,
        "note": d.note,
    } for d in decisions]


def _reset_pages() -> None:
    st.session_state[PAGES_KEY] = [None]


def my_decisions(client: Client, now: datetime) -> None:
    """My recent decisions, newest first, 25 a page (keyset: Older / Newer), searchable by external id."""
    st.text_input("Search by external id", key=SEARCH_KEY, placeholder="the start of an external id, e.g. demo-00",
                  on_change=_reset_pages)
    pages: list[int | None] = st.session_state.setdefault(PAGES_KEY, [None])
    search = (st.session_state.get(SEARCH_KEY) or "").strip() or None
    found = session.call(client.my_decisions, search, pages[-1], DECISIONS_PAGE)
    if found is None:
        return
    if not found:
        st.info("No decisions of yours match." if search or len(pages) > 1 else
                "You have not decided anything yet.", icon=":material/history:")
    else:
        st.dataframe(decision_rows(found, now), hide_index=True, width="stretch", key="mine-table")
    newer, older, _ = st.columns([1, 1, 4])
    if newer.button("Newer", key="mine-newer", disabled=len(pages) == 1, icon=":material/arrow_back:"):
        pages.pop()
        st.rerun()
    if older.button("Older", key="mine-older", disabled=len(found) < DECISIONS_PAGE,
                    icon=":material/arrow_forward:"):
        pages.append(found[-1].id)
        st.rerun()
    st.caption(f"Page {len(pages)} · newest first" + (f" · external ids starting with {fmt.code_span(search)}"
                                                      if search else ""))
