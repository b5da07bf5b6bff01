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


@given(st.text())
def test_escaped_text_has_no_active_markup_and_shows_the_original(text: str) -> None:
    escaped = fmt.md(text)
    active = _active(escaped)
    assert not any(c in string.punctuation for c in active)  # no active <, ](, ![, *, `, :, $, & …
    assert "](" not in active and "![" not in active and "<" not in active
    assert not BREAKS.search(escaped)  # no block can start on a new line
    assert ESCAPE_PAIR.sub(r"\1", escaped) == BREAKS.sub(" ", text)  # renders as the original text


@given(st.text(alphabet=string.printable))
def test_every_escape_pair_escapes_punctuation(text: str) -> None:
    # CommonMark escapes only ASCII punctuation: a backslash before anything else would show as a backslash
    assert all(m.group(1) in string.punctuation for m in ESCAPE_PAIR.finditer(fmt.md(text)))


def test_the_phishing_id_seen_in_chromium() -> None:
    hostile = "[click me](https://evil.example) ![x](http://127.0.0.1:9/x.png) <img src=x> :red[x] $x$"
    escaped = fmt.md(hostile)
    assert escaped.startswith(r"\[click me\]\(https\:\/\/evil\.example\) \!\[x\]")
    assert r"\<img src\=x\>" in escaped and r"\:red\[x\]" in escaped and r"\$x\$" in escaped
