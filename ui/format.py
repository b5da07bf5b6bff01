"""Pure formatting helpers for the pages: no Streamlit, no I/O, so each is unit-tested on its own.

Pages call these to turn API responses (reviewqueue.schemas) into labels, sentences and table rows.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reviewqueue.schemas import ActionCounts, ActionOut, Contribution, QueueOut, VersionOut

__all__ = [
    "age_seconds", "decided_message", "human_age", "lease_text", "md", "money", "overdue_delta", "pages_for",
    "percent",
    "queue_kind_text", "sla_status", "top_reasons", "verdict_label", "verdict_shortcuts",
]

# Streamlit keeps C (clear cache) and R (rerun) for itself; st.button refuses them as shortcuts.
RESERVED_SHORTCUT_KEYS = frozenset("cr")
# Triage's own keys besides the verdicts: release the item (R is Streamlit's), escalate it to a senior reviewer
RELEASE_KEY = "s"
ESCALATE_KEY = "e"
CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}
DASH = "—"


# --- user-supplied text -----------------------------------------------------------------------------------

# Every ASCII punctuation character may be backslash-escaped in CommonMark and then renders as itself: escaping
# them all leaves no link, image, emphasis, code, HTML tag, entity, autolink (``https\://``), Streamlit
# directive (``:red[…]``, ``:material/…:``) or math (``$``) that a client-sent string could start.
_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")


# GFM turns bare URLs and e-mail addresses into links AFTER escapes are resolved (a find-and-replace over the
# parsed text), so escaping cannot stop them; a code span can: its text is never linked, never parsed.
_AUTOLINK_TRIGGER = re.compile(r"://|www\.|@[^\s@]+\.", re.IGNORECASE)


def md(value: Any) -> str:
    """``value`` (an external id, a context value, a note, a model or queue name …) as Markdown that renders
    exactly its text: every Markdown/HTML special character backslash-escaped, line breaks folded to spaces
    (so no block — heading, list, quote, code block — can start); a value GFM would autolink (a URL, ``www.``,
    an e-mail address) becomes an inline code span instead. Use it for every user-supplied value that goes into
    st.markdown / st.write / st.caption / st.info / a subheader / a label; never for our own markup."""
    text = _LINE_BREAKS.sub(" ", str(value))
    if _AUTOLINK_TRIGGER.search(text):
        return code_span(text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def code_span(text: str) -> str:
    """``text`` as a CommonMark code span that shows it verbatim: a fence longer than any run of backticks in it,
    padded with one space where the text starts or ends with a backtick or is wrapped in spaces (CommonMark
    strips one space from each side)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    wrapped = text.startswith(" ") and text.endswith(" ") and text.strip() != ""
    pad = " " if text.startswith("`") or text.endswith("`") or wrapped else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# --- time -------------------------------------------------------------------------------------------------

def as_utc(moment: datetime) -> datetime:
    """The API speaks UTC; SQLite hands back naive datetimes, which are UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def age_seconds(since: datetime, now: datetime) -> float:
    return (as_utc(now) - as_utc(since)).total_seconds()


def human_age(seconds: float | None) -> str:
    """45 s, 12 min, 3 h 5 min, 2 d 4 h; the two largest units, never negative; None → —."""
    if seconds is None:
        return DASH
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def duration(seconds: float | None) -> str:
    """Run durations: 0.8 s, 12.3 s, then human_age above a minute."""
    if seconds is None:
        return DASH
    return f"{seconds:.1f} s" if seconds < 60 else human_age(seconds)


def when(moment: datetime | None) -> str:
    return DASH if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def lease_text(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return "No lease held"
    clock = as_utc(expires_at).strftime("%H:%M:%S UTC")
    remaining = age_seconds(now, expires_at)
    if remaining <= 0:
        return f"Lease expired at {clock}"
    return f"Lease held until {clock} ({human_age(remaining)} left)"


def sla_status(due_at: datetime | None, overdue: bool, created_at: datetime,
               now: datetime) -> tuple[bool, str] | None:
    """(is overdue, badge text) for an item with an SLA, None without one.

    Overdue when the API says so, or when the due time has passed: the API flags only *pending* items, and
    the item on the triage page is claimed by the reviewer looking at it.
    """
    if due_at is None:
        return None
    due, made = as_utc(due_at), as_utc(created_at)
    sla = f"SLA {human_age((due - made).total_seconds())}"
    clock = due.strftime("%H:%M UTC")
    late = age_seconds(due, now)
    if overdue or late > 0:
        return True, f"OVERDUE ({sla}: was due {clock}, {human_age(late)} ago)"
    return False, f"{sla}: due {clock} (in {human_age(-late)})"


# --- numbers ----------------------------------------------------------------------------------------------

def percent(score: float) -> str:
    return f"{score * 100:.1f}%"


def points(contribution: float) -> str:
    """A score change in percentage points, signed: +21.0 pts."""
    return f"{contribution * 100:+.1f} pts"


def metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else DASH


def money(amount: float, currency: str | None = None) -> str:
    code = (currency or "").strip().lower()
    if code in CURRENCY_SYMBOLS:
        return f"{CURRENCY_SYMBOLS[code]}{amount:,.2f}"
    return f"{amount:,.2f} {code.upper()}" if code else f"{amount:,.2f}"


def headline_amount(features: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    """The amount to show big on the triage card, when the model has an ``amount`` feature."""
    amount = features.get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        return None
    currency = context.get("currency")
    return money(float(amount), currency if isinstance(currency, str) else None)


def display_value(value: Any) -> str:
    """One string per cell: tables of mixed feature types stay one column type."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def short_sha(sha: str, length: int = 12) -> str:
    return sha[:length]


def short_id(action_id: str, length: int = 8) -> str:
    return action_id if len(action_id) <= length else action_id[-length:]


# --- triage -----------------------------------------------------------------------------------------------

def verdict_shortcuts(verdicts: Sequence[str]) -> dict[str, str | None]:
    """Keyboard key per verdict: each verdict's first letter when every verdict has its own usable one;
    otherwise every verdict gets its position, 1..9 from the left (one scheme per row of buttons, never a mix).

    A first letter is unusable when it is shared, not an ASCII letter, reserved by Streamlit (C, R) or by triage
    (S releases, E escalates):
    "concern" / "no concern" → 1 / 2, fraud / legit → F / L. Past the ninth verdict, positions run out: None.
    """
    firsts = [v[:1].lower() for v in verdicts]
    taken = RESERVED_SHORTCUT_KEYS | {RELEASE_KEY, ESCALATE_KEY}
    usable = [f.isascii() and f.isalpha() and f not in taken and firsts.count(f) == 1 for f in firsts]
    if all(usable):
        return dict(zip(verdicts, firsts, strict=True))
    return {v: str(i + 1) if i < 9 else None for i, v in enumerate(verdicts)}


def verdict_label(verdict: str, key: str | None) -> str:
    """``Fraud  [F]`` — the key is shown so reviewers learn it."""
    name = verdict.replace("_", " ")
    name = name[:1].upper() + name[1:]
    return f"{name}  [{key.upper()}]" if key else name


def verdict_help(verdict: str, key: str | None) -> str:
    return f"Decide {verdict} (press {key.upper()})" if key else f"Decide {verdict}"


def decided_message(verdict: str, n_actions: int) -> str:
    if n_actions == 0:
        return f"Decided {verdict}: no actions queued"
    return f"Decided {verdict}: {n_actions} action{'s' if n_actions != 1 else ''} queued"


def _by_weight(explanation: Iterable[Contribution]) -> list[Contribution]:
    return sorted(explanation, key=lambda c: abs(c.contribution), reverse=True)


def top_reasons(explanation: Iterable[Contribution], n: int = 3) -> str:
    """One line: the n features that move the score most, with value and signed effect."""
    reasons = [c for c in _by_weight(explanation) if round(c.contribution * 100, 1) != 0][:n]
    if not reasons:
        return "Top reasons: no single feature moves the score much."
    parts = [f"{c.feature} = {display_value(c.value)} ({points(c.contribution)})" for c in reasons]
    return "Top reasons: " + ", ".join(parts)


def explanation_rows(explanation: Iterable[Contribution]) -> list[dict[str, Any]]:
    """Chart rows, heaviest first; positive contributions push the score up, towards the positive verdict."""
    return [
        {"feature": f"{c.feature} = {display_value(c.value)}", "contribution": round(c.contribution, 6),
         "effect": "raises score" if c.contribution >= 0 else "lowers score", "order": i}
        for i, c in enumerate(_by_weight(explanation))
    ]


def kv_rows(values: Mapping[str, Any], key_name: str = "feature") -> list[dict[str, str]]:
    return [{key_name: str(k), "value": display_value(v)} for k, v in values.items()]


# --- queues -------------------------------------------------------------------------------------------------

QUEUE_KINDS = {"decision": "ranked by risk", "learning": "ranked by uncertainty — learning budget",
               "escalation": "escalated by reviewers, ranked by risk — for senior reviewers"}


def queue_kind_text(kind: str) -> str:
    """What a queue's order means: decision queues clear the riskiest first, learning queues offer the items
    the model is least sure about, up to a daily budget."""
    return QUEUE_KINDS.get(kind, kind)


def overdue_delta(count: int) -> str | None:
    """The Overdue metric's delta (shown red): None when nothing is late."""
    return f"{count} past SLA" if count > 0 else None


# --- navigation -------------------------------------------------------------------------------------------

def pages_for(granted: Sequence[str], sandbox: bool = False) -> tuple[str, ...]:
    """The pages to show: those the server granted (``/v1/me`` pages, in menu order), plus the development
    sandbox page when a sandbox is running. Someone granted no page still gets the (empty) queue overview."""
    pages = tuple(granted) or ("queues",)
    return pages + ("sandbox",) if sandbox else pages


# --- tables and chart rows ----------------------------------------------------------------------------------

def queue_depth_rows(queues: Iterable[QueueOut]) -> list[dict[str, Any]]:
    """Stacked-bar rows: pending and claimed items per queue."""
    rows: list[dict[str, Any]] = []
    for q in queues:
        rows.append({"queue": q.queue, "state": "pending", "items": q.pending})
        rows.append({"queue": q.queue, "state": "claimed", "items": q.claimed})
    return rows


def count_rows(counts: ActionCounts) -> list[dict[str, Any]]:
    return [{"status": s, "actions": getattr(counts, s)} for s in ("pending", "in_flight", "done", "dead")]


def action_subject(a: ActionOut) -> str:
    """What an action was about, in one line: the model, the event's external id, the item and the verdict
    ("fraud tx-81 · item 12 · verdict fraud"); an automatic decision has no item."""
    if a.model is None:
        return DASH if a.decision_id is None else f"decision {a.decision_id}"
    item = f"item {a.item_id}" if a.item_id is not None else "automatic"
    return f"{a.model} {a.external_id} · {item} · verdict {a.verdict}"


def action_rows(actions: Iterable[ActionOut]) -> list[dict[str, Any]]:
    return [
        {"action": a.id, "about": action_subject(a), "connector": a.connector, "status": a.status,
         "attempts": a.attempts, "last error": a.last_error or "", "created": when(a.created_at),
         "done": when(a.done_at)}
        for a in actions
    ]


def retrain_fraction(labels: int, threshold: int) -> float:
    if threshold <= 0:
        return 1.0
    return min(1.0, max(0.0, labels / threshold))


def _metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def metric_points(versions: Iterable[VersionOut], name: str = "roc_auc") -> list[dict[str, Any]]:
    """Line-chart rows by version number (ascending), skipping versions without the metric."""
    points_ = [{"version": v.version, name: _metric_value(v.metrics, name), "status": v.status}
               for v in versions]
    return sorted((p for p in points_ if p[name] is not None), key=lambda p: p["version"])


# --- sandbox ----------------------------------------------------------------------------------------------

def slack_rows(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for m in messages:
        ts = m.get("ts")
        try:
            sent = when(datetime.fromtimestamp(float(ts), UTC)) if ts is not None else DASH
        except (TypeError, ValueError):
            sent = str(ts)
        rows.append({"channel": str(m.get("channel", "")), "text": str(m.get("text") or ""), "sent": sent})
    return rows


def webhook_rows(webhooks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per verified delivery; the payload is the decision's (model, external_id, verdict, actor…)."""
    rows = []
    for w in webhooks:
        raw = w.get("payload")
        payload: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        stamp = w.get("timestamp")
        try:
            received = when(datetime.fromtimestamp(int(stamp), UTC)) if stamp is not None else DASH
        except (TypeError, ValueError):
            received = str(stamp)
        rows.append({"endpoint": str(w.get("name", "")),
                     "external id": display_value(payload.get("external_id")),
                     "verdict": display_value(payload.get("verdict")),
                     "decided by": display_value(payload.get("actor")), "received": received,
                     "webhook id": str(w.get("webhook_id", ""))})
    return rows
