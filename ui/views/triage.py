"""Triage: claim the next item of a queue, see why the model scored it so, decide it, get the next one.

While an item is open its lease is renewed by a heartbeat (a fragment that reruns every few seconds and renews
once a minute), so reading one message for longer than the lease does not lose it; a lease lost anyway (the
tab asleep past its expiry, an admin's release) is said at once and the verdict buttons go away. Deciding and
claiming run in button callbacks, before the page draws, so the next item shows in the same run.

A deep link (``/?item=ID``) opens that item: claimed for the reviewer when it is pending on a queue they review,
else read-only with why (and its decision). Beside the item: the customer's (patient's) other predictions.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import streamlit as st

from reviewqueue import errors
from reviewqueue.schemas import ItemOut, OpenedItem
from ui import charts, highlight, session, triage_context
from ui import format as fmt

# why this item is in front of the reviewer: uncertain (review), a random audit of an auto-decision, or a
# learning draw (the model is unsure and the label will teach it)
ITEM_KIND_BADGES = {"review": ":blue-badge[review]", "audit": ":orange-badge[audit sample]",
                    "learning": ":violet-badge[learning sample]"}
client, me = session.require()
state = st.session_state
HEARTBEAT_SECONDS = 60  # renew the lease this often while the item is open (leases last minutes)
# the verdict buttons' colours, by position: the first (the alarming one by convention: fraud, concern) red
VERDICT_COLOURS = ("#c62828", "#2e7d32", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e", "#37474f",
                   "#ad1457")


def _claim(queue: str) -> None:
    """Lease the next item of ``queue`` to me (button callback, and after each decision)."""
    state["triage_lost"] = state["triage_readonly"] = None
    item, problem = session.attempt(client.claim_next, queue)
    if problem is not None:
        if session.principal() is not None:  # else attempt() signed the person out: nothing to show here
            state["triage_error"] = session.error_text(problem)
        return
    state["triage_item"] = item
    state["triage_empty"] = None if item else queue
    state["triage_lease"] = item.lease_token if item else None
    state["triage_expires"] = item.lease_expires_at if item else None
    state["triage_renewed_at"] = datetime.now(UTC)


def _open_link(item_id: int) -> None:
    """A followed deep link: the item claimed for me, or shown read-only with why; 404 says only "not found"."""
    opened, problem = session.attempt(client.open_item, item_id)
    if session.principal() is None:
        st.rerun()
    if isinstance(problem, errors.NotFound):
        state["triage_error"] = (f"Item {item_id} was not found on the queues you may see (it may not exist, or "
                                 "belong to a queue you are not given).")
    elif problem is not None or opened is None:
        state["triage_error"] = f"Could not open item {item_id}: " + \
            (session.error_text(problem) if problem else "the API returned nothing.")
    elif opened.leased:
        item = opened.item
        state["triage_lost"] = state["triage_readonly"] = None
        state["triage_item"], state["triage_lease"] = item, item.lease_token
        state["triage_expires"], state["triage_renewed_at"] = item.lease_expires_at, datetime.now(UTC)
        if item.queue in me.review_queues:  # the queue picker follows (its widget state rebuilt from the index)
            state["triage_queue"] = item.queue
            state.pop("triage-queue-select", None)
        state["triage_toast"] = f"Opened {item.external_id} from the link: it is yours to decide"
    else:
        state["triage_readonly"] = opened


def _lose(message: str) -> None:
    state["triage_lost"] = message
    state["triage_item"] = state["triage_lease"] = state["triage_expires"] = None


def _decide(verdict: str) -> None:
    item: ItemOut | None = state.get("triage_item")
    lease = state.get("triage_lease")
    if item is None or not lease:
        return
    note = state.get("triage-note") or ""
    result, problem = session.attempt(client.decide, item.id, verdict, lease, note=note)
    if session.principal() is None:
        return
    if isinstance(problem, errors.Conflict):  # LeaseLost, AlreadyDecided: no longer ours to decide
        _lose(f"{item.external_id} was not decided: {problem.message.rstrip('.')}.")
    elif problem is not None or result is None:
        state["triage_error"] = session.error_text(problem) if problem else "The API returned nothing."
    else:
        state["triage_toast"] = fmt.decided_message(verdict, len(result.action_ids)) if result.outcome == "decided" \
            else (f"Your {verdict} vote on {item.external_id} is recorded; a different reviewer decides it"
                  if result.outcome == "vote" else
                  f"Reviewers disagree on {item.external_id}: it went to {result.queue} for a senior to decide")
        state["triage-note"] = ""
        # within the verdict's undo window the decision can be taken back (its actions wait until then)
        state["triage_undo"] = (result.decision_id, result.undo_until, item.external_id) if result.undo_until \
            else None
        _claim(item.queue)


def _undo(decision_id: int, external_id: str) -> None:
    """Undo my last decision (button callback): its actions are cancelled, the item goes back to its queue."""
    state["triage_undo"] = None
    _result, problem = session.attempt(client.undo, decision_id)
    if session.principal() is None:
        return
    if problem is not None:
        state["triage_error"] = f"{external_id} was not undone: {session.error_text(problem)}"
    else:
        state["triage_toast"] = f"Undone: {external_id} is back in its queue and none of its actions fired"


def _undo_bar(now: datetime) -> None:
    """An "Undo (U)" control while my last decision's undo window is open."""
    pending = state.get("triage_undo")
    if not pending:
        return
    decision_id, until, external_id = pending
    if until is None or now >= until:
        state["triage_undo"] = None
        return
    text, button = st.columns([4, 1], vertical_alignment="center")
    text.info(f"Decided {fmt.md(external_id)}: its actions wait {int((until - now).total_seconds())} s more; "
              "press U to undo it.", icon=":material/undo:")
    button.button("Undo", key="undo-decision", shortcut="u", on_click=_undo, args=(decision_id, external_id),
                  width="stretch", help="Take the decision back (press U): nothing fires, the item returns")


def _let_go(how: str) -> None:
    """Release (``how`` = "release") or escalate the item I hold (button callbacks), then claim the next one.
    An escalation needs the note: why a senior reviewer should decide it."""
    item: ItemOut | None = state.get("triage_item")
    lease = state.get("triage_lease")
    if item is None or not lease:
        return
    note = (state.get("triage-note") or "").strip()
    if how == "escalate" and not note:
        state["triage_error"] = "Escalating needs a note: write why a senior reviewer should decide it, then press E."
        return
    if how == "escalate":
        escalated, problem = session.attempt(client.escalate, item.id, lease, note)
        done = f"Escalated {item.external_id} to {escalated.queue}" if escalated else ""
    else:
        released, problem = session.attempt(client.release, item.id, lease)
        done = f"Released {item.external_id}: back in {item.queue} for others" if released else ""
    if session.principal() is None:
        return
    if isinstance(problem, errors.Conflict):  # LeaseLost: no longer mine to let go of
        _lose(f"{item.external_id} was not {how}d: {problem.message.rstrip('.')}.")
    elif problem is not None or not done:
        state["triage_error"] = session.error_text(problem) if problem else "The API returned nothing."
    else:
        state["triage_toast"] = done
        state["triage-note"] = ""
        _claim(item.queue)


def _renew(item: ItemOut, lease: str) -> None:
    lease_out, problem = session.attempt(client.renew, item.id, lease)
    if session.principal() is None:
        st.rerun()
    if lease_out is not None:
        state["triage_expires"] = lease_out.lease_expires_at
        state["triage_renewed_at"] = datetime.now(UTC)
        state["triage_heartbeats"] = state.get("triage_heartbeats", 0) + 1
    elif isinstance(problem, errors.Conflict | errors.NotFound):
        _lose(f"Your lease on {item.external_id} was lost: {session.error_text(problem).rstrip('.')}.")
    elif problem is not None:
        state["triage_error"] = f"Could not renew the lease: {session.error_text(problem)}"


def _heartbeat(now: datetime) -> None:
    """Renew the open item's lease once HEARTBEAT_SECONDS have passed since the last renewal; a lease that ran
    out or was refused takes the item off the page at once (the buttons go, a warning says why)."""
    item: ItemOut | None = state.get("triage_item")
    lease = state.get("triage_lease")
    if item is None or not lease:
        return
    expires, renewed = state.get("triage_expires"), state.get("triage_renewed_at")
    if expires is not None and fmt.as_utc(expires) <= now:
        _lose(f"Your lease on {item.external_id} ran out before it was renewed (was the tab asleep?).")
    elif renewed is None or (now - renewed).total_seconds() >= HEARTBEAT_SECONDS:
        _renew(item, lease)
    if state.get("triage_item") is None:
        st.rerun()  # the whole page: the warning shows, the verdict buttons go


@st.fragment(run_every=timedelta(seconds=15))
def _lease_clock() -> None:
    now = datetime.now(UTC)
    _heartbeat(now)
    st.caption(f":material/timer: renewed while open · {fmt.lease_text(state.get('triage_expires'), now)}")


def _claim_button(queue: str, label: str = "Claim next") -> None:
    st.button(label, key="claim", type="primary", icon=":material/move_to_inbox:", on_click=_claim,
              args=(queue,))


def _sla_badge(item: ItemOut, now: datetime) -> None:
    status = fmt.sla_status(item.sla_due_at, item.overdue, item.created_at, now)
    if status is None:
        return
    overdue, text = status
    if overdue:  # a red bar across the card: this one should have been seen already
        st.error(f"**{text}**", icon=":material/alarm:")
    else:
        st.markdown(f":orange-badge[:material/schedule: {text}]")


def _show(item: ItemOut, read_only: OpenedItem | None = None) -> None:
    now = datetime.now(UTC)
    field = highlight.text_feature(item.features, item.explanation)  # None: a tabular item
    with st.container(border=True):
        title, kind = st.columns([4, 1], vertical_alignment="center")
        title.subheader(fmt.md(item.external_id))  # client-sent: never markup
        badge = ITEM_KIND_BADGES.get(item.kind, ":blue-badge[review]")
        kind.markdown(f"{badge} &nbsp; item #{item.id}")
        _sla_badge(item, now)
        if item.escalation is not None:  # for the senior reviewer: who sent it up, and why (their words: escaped)
            esc = item.escalation
            st.warning(f"**Escalated** by **{fmt.md(esc.by)}** from queue **{fmt.md(esc.from_queue)}**, "
                       f"{fmt.human_age(fmt.age_seconds(esc.at, now))} ago: {fmt.md(esc.note)}",
                       icon=":material/supervisor_account:")
        open_votes = [v for v in item.votes if v.decision_id is None]
        if open_votes:  # four-eyes: who already voted what (their notes: escaped)
            said = "; ".join(f"**{fmt.md(v.by)}** voted **{fmt.md(v.verdict)}**"
                             + (f" ({fmt.md(v.note)})" if v.note else "") for v in open_votes)
            st.info(f"Votes so far: {said}", icon=":material/how_to_vote:")
        if field is None:
            amount, score, priority, age = st.columns(4)
            amount.metric("Amount", fmt.headline_amount(item.features, item.context) or "—")
        else:
            score, priority, age = st.columns(3)
        score.metric("Score", fmt.percent(item.score),
                     help="The model's probability for the positive verdict")
        priority.metric("Priority", f"{item.priority:,.2f}", help="Higher priority is reviewed first")
        age.metric("Age", fmt.human_age(fmt.age_seconds(item.created_at, now)))
        route, lease = st.columns(2)
        route.caption(f"route **{fmt.md(item.route_label or item.route)}** · "
                      f"model **{fmt.md(item.model)} v{item.model_version}** · queue **{fmt.md(item.queue)}**")
        if read_only is None:
            with lease:
                _lease_clock()
        if field is None:
            st.markdown(fmt.md(fmt.top_reasons(item.explanation)))  # carries feature values
        else:
            # the patient's words: escaped in highlight_html, and st.html sanitises once more
            st.html(highlight.highlight_html(str(item.features[field]), item.explanation, field)
                    + highlight.top_words_html(item.explanation))
            st.caption("Highlighted words moved the score most when left out one at a time: red raised it "
                       "(towards concern), blue lowered it; the stronger the colour, the bigger the effect. "
                       "Hover a word for its effect.")
        if read_only is None:
            _decision_bar(item)
        else:
            triage_context.read_only_banner(read_only, now)
            st.button("Back to my queue", key="readonly-close", icon=":material/close:",
                      on_click=lambda: state.update(triage_readonly=None))
    triage_context.history_panel(client, item, now)

    facts, why = st.columns([2, 3])
    with facts:
        if field is None:
            st.markdown("**Transaction**")
            st.dataframe(fmt.kv_rows(item.features), hide_index=True, width="stretch")
        st.markdown("**Context**")
        st.dataframe(fmt.kv_rows(item.context, key_name="field"), hide_index=True, width="stretch")
    with why:
        st.markdown("**Why this score**")
        if item.explanation and field is not None:
            st.altair_chart(charts.explanation(highlight.word_rows(item.explanation), words=True),
                            width="stretch")
            st.caption("Each bar: how much the score's log-odds change when this word is left out. "
                       "Red raises the score, blue lowers it.")
        elif item.explanation:
            st.altair_chart(charts.explanation(fmt.explanation_rows(item.explanation)), width="stretch")
            st.caption("Each bar: how far this value moves the score compared with a typical value. "
                       "Red raises the score (towards the positive verdict), blue lowers it.")
        else:
            st.caption("No explanation for this model version.")


def _verdict_css(verdicts: list[str]) -> str:
    """Each verdict button its own colour (scoped by the key class Streamlit puts on a keyed element)."""
    rules = []
    for i, verdict in enumerate(verdicts):
        selector = ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", f"verdict-{verdict}".strip()) + " button"
        colour = VERDICT_COLOURS[i % len(VERDICT_COLOURS)]
        rules.append(f"{selector} {{ background-color: {colour} !important; border-color: {colour} !important; "
                     "color: #fff !important; } "
                     f"{selector}:hover {{ filter: brightness(1.12); }} "
                     # the whole preview, wrapped: Streamlit cuts a long button label to one line otherwise
                     f"{selector} {{ height: auto; }} {selector} * {{ white-space: normal !important; "
                     "overflow: visible !important; text-overflow: clip !important; }")
    return "<style>" + "\n".join(rules) + "</style>"


def _decision_bar(item: ItemOut) -> None:
    keys = fmt.verdict_shortcuts(item.verdicts)
    st.text_input("Note (optional; required to escalate)", key="triage-note",
                  placeholder="Why you decided so, for the audit trail")
    st.html(_verdict_css(item.verdicts))
    effects = {e.verdict: e for e in item.verdict_effects}
    for column, verdict in zip(st.columns(len(item.verdicts)), item.verdicts, strict=True):
        # the label carries no "[F]": Streamlit draws the shortcut key inside the button itself; it says what the
        # verdict will do on this event and whether it can be undone ("Fraud — refunds $954.14 on ch_1
        # (irreversible), … · undo within 30 s"), and four-eyes ("needs a second reviewer")
        effect = effects.get(verdict)
        label = fmt.verdict_label(verdict, None)
        if effect is not None and effect.preview:
            label = f"{label} — {fmt.md(effect.preview)}"
        elif effect is not None and (effect.irreversible or effect.reviewers > 1):
            label = fmt.md(effect.label)
        column.button(label, key=f"verdict-{verdict}", shortcut=keys[verdict], on_click=_decide, args=(verdict,),
                      type="primary" if verdict == item.verdicts[0] else "secondary",
                      width="stretch", help=fmt.verdict_help(verdict, keys[verdict]))
    release, escalate, _ = st.columns([1, 1, 3])
    release.button("Release", key="release-item", shortcut=fmt.RELEASE_KEY, on_click=_let_go, args=("release",),
                   icon=":material/keyboard_return:", width="stretch",
                   help=f"Give it back undecided (press {fmt.RELEASE_KEY.upper()}): others may take it at once; "
                        "you will not get it again for a while")
    if item.escalation is None:  # an escalated item is decided where it is
        escalate.button("Escalate", key="escalate-item", shortcut=fmt.ESCALATE_KEY, on_click=_let_go,
                        args=("escalate",), icon=":material/supervisor_account:", width="stretch",
                        help=f"Send it to a senior reviewer (press {fmt.ESCALATE_KEY.upper()}); the note says why")


st.title("Triage")
if toast := state.pop("triage_toast", None):
    st.toast(fmt.md(toast), icon=":material/check_circle:")
if flash := session.pop_flash():
    st.warning(fmt.md(flash))

# the queues this person may triage come with their sign-in (the server's authorization table decides)
names = list(me.review_queues)
if (link := session.take_deep_link()) is not None:  # /?item=ID, followed before or after signing in
    state["triage-view"] = "Item"
    _open_link(link)
state.setdefault("triage-view", "Item")
view = st.segmented_control("View", ["Item", "My decisions"], key="triage-view", label_visibility="collapsed")
if view == "My decisions":
    triage_context.my_decisions(client, datetime.now(UTC))
    st.stop()
if not names:
    st.info("You have no queues to review. An admin can add queues to your account.")
    st.stop()
if state.get("triage_queue") not in names:
    state["triage_queue"] = names[0]
queue = st.selectbox("Queue", names, index=names.index(state["triage_queue"]), key="triage-queue-select")
state["triage_queue"] = queue

item: ItemOut | None = state.get("triage_item")
autoclaim = state.pop("triage_autoclaim", False)  # set by "Start triage" on the Queues page
if item is None and autoclaim:
    _claim(queue)
    item = state.get("triage_item")

if problem := state.pop("triage_error", None):
    st.error(fmt.md(problem))
_undo_bar(datetime.now(UTC))
if lost := state.get("triage_lost"):
    st.warning(f"{fmt.md(lost)} Someone else may hold it now; claim the next item to carry on.",
               icon=":material/lock_clock:")

read_only: OpenedItem | None = state.get("triage_readonly")
if read_only is not None:
    _show(read_only.item, read_only)
elif item is not None:
    if item.queue != queue:
        st.info(f"You still hold an item from queue **{fmt.md(item.queue)}**: decide it first.")
    _show(item)
elif state.get("triage_empty") == queue:
    st.info(f"Queue **{fmt.md(queue)}** is empty — nothing waits for review right now. "
            "New items arrive as predictions are scored.", icon=":material/celebration:")
    _claim_button(queue, "Check again")
else:
    if not lost:
        st.write(f"Claim the highest-priority item of **{fmt.md(queue)}**; it is yours for a few minutes, "
                 "renewed while you work on it.")
    _claim_button(queue)
