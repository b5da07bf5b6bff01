"""fmt.md: a user-supplied value rendered as Markdown shows exactly its text — no link, image, HTML, emphasis,
Streamlit directive or block construct can survive escaping (reviewqueue invariant 12)."""

from __future__ import annotations

import re
import string

from hypothesis import given
from hypothesis import strategies as st

from ui import format as fmt

ESCAPE_PAIR = re.compile(r"\\(.)", re.DOTALL)
BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")


def _active(escaped: str) -> str:
    """What a Markdown parser may still read as syntax: the text with every backslash escape pair removed."""
    return ESCAPE_PAIR.sub("", escaped)


def _code_span_text(rendered: str) -> str | None:
    """The text a CommonMark code span shows, or None when ``rendered`` is not one code span."""
    match = re.fullmatch(r"(`+)(.*?)\1", rendered, re.DOTALL)
    if match is None or "`" * len(match.group(1)) in match.group(2):
        return None
    inner = match.group(2)
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    return inner


@given(st.text())
def test_escaped_text_has_no_active_markup_and_shows_the_original(text: str) -> None:
    rendered = fmt.md(text)
    assert not BREAKS.search(rendered)  # no block can start on a new line
    shown = _code_span_text(rendered)
    if shown is not None:  # a value GFM would autolink: one code span, never linked or parsed, shown verbatim
        assert shown == BREAKS.sub(" ", text)
        return
    active = _active(rendered)
    assert not any(c in string.punctuation for c in active)  # no active <, ](, ![, *, `, :, $, & …
    assert "](" not in active and "![" not in active and "<" not in active
    assert ESCAPE_PAIR.sub(r"\1", rendered) == BREAKS.sub(" ", text)  # renders as the original text


@given(st.text(alphabet=string.printable + "`"), st.sampled_from(["https://", "http://", "www.", "a@b.", "x://"]))
def test_anything_gfm_would_autolink_becomes_one_code_span_showing_the_text(text: str, trigger: str) -> None:
    value = text + trigger + text
    assert _code_span_text(fmt.md(value)) == BREAKS.sub(" ", value)


@given(st.text(alphabet=string.printable))
def test_every_escape_pair_escapes_punctuation(text: str) -> None:
    # CommonMark escapes only ASCII punctuation: a backslash before anything else would show as a backslash
    rendered = fmt.md(text)
    if _code_span_text(rendered) is None:  # inside a code span a backslash is shown as itself, as it should be
        assert all(m.group(1) in string.punctuation for m in ESCAPE_PAIR.finditer(rendered))


def test_the_phishing_id_seen_in_chromium() -> None:
    hostile = "[click me](https://evil.example) ![x](http://127.0.0.1:9/x.png) <img src=x> :red[x] $x$"
    assert fmt.md(hostile) == f"`{hostile}`"  # autolinks survive escaping; a code span shows it verbatim
    escaped = fmt.md("[click me](evil) ![x](y) <img src=x> :red[x] $x$")
    assert escaped.startswith(r"\[click me\]\(evil\) \!\[x\]")
    assert r"\<img src\=x\>" in escaped and r"\:red\[x\]" in escaped and r"\$x\$" in escaped
