"""Text items: the message with the words that moved the score most highlighted in place. Pure, no Streamlit.

The message is a patient's own words and must never become markup: every piece of it goes through
``html.escape`` before it is joined with our own tags, and the page renders the result with ``st.html``
(which sanitises again with DOMPurify). Contributions of text models are in log-odds: the score's logit with
the word, minus the logit without it (leave-one-word-out), so +1.0 means the word multiplies the odds by e.

Stop-words ("the", "and", "I") are never highlighted, charted or listed: leaving one out of a sentence changes
the encoder's input as much as any word, so it can show a large effect that tells a reviewer nothing. The list
is scikit-learn's ENGLISH_STOP_WORDS, the one its text vectorizers use, less the words it holds that carry
meaning in a patient's or customer's message (negations — "no", "not", "never", "nothing", "nobody" — and
"alone", "cry", "empty", "serious", …): hiding "not" in "I do not want to live" would hide the reason.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reviewqueue.schemas import Contribution

__all__ = ["highlight_html", "is_stop_word", "spans", "text_feature", "top_words_html", "word_rows"]

RAISES_RGB, LOWERS_RGB = "214, 39, 40", "31, 119, 180"  # the explanation chart's red and blue
MIN_ALPHA, MAX_ALPHA = 0.18, 0.75
BOX_STYLE = ("white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.9; font-size: 1.05rem; "
             "padding: 0.75rem 1rem; border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem;")
WORD_STYLE = "background-color: rgba({rgb}, {alpha:.2f}); border-radius: 0.25rem; padding: 0 0.12em;"


# scikit-learn's stop-words that still mean something here: negations and content words
MEANINGFUL = frozenset({
    "no", "not", "never", "nobody", "none", "noone", "nor", "nothing", "nowhere", "cannot", "cant", "couldnt",
    "hasnt", "without", "against", "alone", "cry", "empty", "serious", "fire", "bill", "call", "full", "thin",
    "thick", "interest", "amount", "detail", "describe", "find", "found", "give", "keep", "move", "show", "take",
})


@functools.cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # lazy: only text items need it

    return frozenset(ENGLISH_STOP_WORDS) - MEANINGFUL


def is_stop_word(word: object) -> bool:
    """Whether a word (case and surrounding punctuation aside) is a stop-word that explains nothing."""
    return str(word).strip(".,;:!?'\"()[]").lower() in _stop_words()


def _words(explanation: Iterable[Contribution]) -> list[Contribution]:
    """The word contributions worth showing: those with a span, stop-words left out."""
    return [c for c in explanation if c.start is not None and not is_stop_word(c.value)]


def text_feature(features: Mapping[str, Any], explanation: Iterable[Contribution]) -> str | None:
    """The text feature of a text item: the one its word spans point into, else its only feature when that
    is a string (an item whose words all moved the score too little to be listed); None for tabular items."""
    for c in explanation:
        if c.start is not None and c.end is not None and isinstance(features.get(c.feature), str):
            return c.feature
    if len(features) == 1:
        name, value = next(iter(features.items()))
        return name if isinstance(value, str) else None
    return None


def spans(text: str, explanation: Iterable[Contribution], feature: str | None = None) -> list[Contribution]:
    """The word spans that can be highlighted, in text order: inside the text, pointing at the word they name,
    not overlapping an earlier (heavier) one. A span that does not match is dropped rather than drawn on the
    wrong word."""
    kept: list[Contribution] = []
    taken: list[tuple[int, int]] = []
    for c in sorted(_words(explanation), key=lambda c: abs(c.contribution), reverse=True):
        if c.start is None or c.end is None or (feature is not None and c.feature != feature):
            continue
        if not 0 <= c.start < c.end <= len(text) or text[c.start:c.end] != str(c.value):
            continue
        if any(c.start < end and start < c.end for start, end in taken):
            continue
        taken.append((c.start, c.end))
        kept.append(c)
    return sorted(kept, key=lambda c: c.start or 0)


def _alpha(weight: float, heaviest: float) -> float:
    share = abs(weight) / heaviest if heaviest > 0 else 1.0
    return MIN_ALPHA + (MAX_ALPHA - MIN_ALPHA) * min(1.0, share)


def effect(contribution: float) -> str:
    return "raises score" if contribution >= 0 else "lowers score"


def highlight_html(text: str, explanation: Iterable[Contribution], feature: str | None = None) -> str:
    """The whole text, escaped, in a box; each explained word wrapped in a coloured span: red raises the score,
    blue lowers it, stronger colour for a bigger |contribution|. Line breaks are kept (pre-wrap)."""
    words = spans(text, explanation, feature)
    heaviest = max((abs(c.contribution) for c in words), default=0.0)
    rank = {id(c): i + 1 for i, c in enumerate(sorted(words, key=lambda c: abs(c.contribution), reverse=True))}
    parts: list[str] = []
    cursor = 0
    for c in words:
        start, end = c.start or 0, c.end or 0
        parts.append(html.escape(text[cursor:start]))
        raises = c.contribution >= 0
        style = WORD_STYLE.format(rgb=RAISES_RGB if raises else LOWERS_RGB,
                                  alpha=_alpha(c.contribution, heaviest))
        tip = f"{effect(c.contribution)}: {c.contribution:+.2f} log-odds (rank {rank[id(c)]})"
        parts.append(
            f'<span class="rq-word rq-{"raises" if raises else "lowers"}" data-rank="{rank[id(c)]}" '
            f'title="{html.escape(tip)}" style="{style}">{html.escape(text[start:end])}</span>')
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return f'<div class="rq-message" style="{BOX_STYLE}">{"".join(parts)}</div>'


def top_words_html(explanation: Iterable[Contribution], n: int = 4) -> str:
    """One line under the message: the n heaviest words and their signed effect, escaped."""
    ranked = sorted(_words(explanation), key=lambda c: abs(c.contribution), reverse=True)[:n]
    if not ranked:
        return '<p class="rq-top-words">No single word moves the score much.</p>'
    shown = ", ".join(f"<b>{html.escape(str(c.value))}</b> ({c.contribution:+.2f})" for c in ranked)
    return f'<p class="rq-top-words">Words that moved the score most (log-odds): {shown}</p>'


def word_rows(explanation: Sequence[Contribution]) -> list[dict[str, Any]]:
    """Chart rows for the word bars, heaviest first; the same word twice keeps both bars apart by position."""
    ranked = sorted(_words(explanation), key=lambda c: abs(c.contribution), reverse=True)
    counts: dict[str, int] = {}
    for c in ranked:
        counts[str(c.value)] = counts.get(str(c.value), 0) + 1
    return [
        {"feature": f"{c.value} @{c.start}" if counts[str(c.value)] > 1 else str(c.value),
         "contribution": round(c.contribution, 6), "effect": effect(c.contribution), "order": i}
        for i, c in enumerate(ranked)
    ]
