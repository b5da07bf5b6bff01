"""ui.highlight: a patient's message, escaped, with its weightiest words wrapped in coloured spans."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.schemas import Contribution
from ui import highlight

TEXT = "I want to <end> it & stop\n  now"
SPAN = re.compile(r'<span class="rq-word rq-(raises|lowers)" data-rank="(\d+)" title="([^"]*)" '
                  r'style="background-color: rgba\(([\d, ]+), ([\d.]+)\);[^"]*">([^<]*)</span>')


def word(text: str, value: str, contribution: float, occurrence: int = 0) -> Contribution:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(value, start + 1)
    return Contribution(feature="text", value=value, contribution=contribution, start=start, end=start + len(value))


def unwrap(box: str) -> str:
    return re.sub(r"^<div[^>]*>|</div>$", "", SPAN.sub(r"\6", box))


def test_words_highlighted_in_place_escaped_with_colour_by_sign_and_weight() -> None:
    words = [word(TEXT, "end", 2.0), word(TEXT, "stop", -1.0), word(TEXT, "want", 0.5)]
    box = highlight.highlight_html(TEXT, words, "text")
    assert unwrap(box) == html.escape(TEXT)  # nothing lost, nothing moved, "<end>" shown as text
    assert "<end>" not in box and "&lt;" in box
    found = [(kind, rank, rgb, float(alpha), w) for kind, rank, _, rgb, alpha, w in SPAN.findall(box)]
    assert [(k, r, w) for k, r, _, _, w in found] == [("raises", "3", "want"), ("raises", "1", "end"),
                                                      ("lowers", "2", "stop")]
    alphas = {w: a for *_, a, w in found}
    assert alphas["end"] == highlight.MAX_ALPHA and alphas["end"] > alphas["stop"] > alphas["want"]
    assert {w: rgb for _, _, rgb, _, w in found} == {
        "end": highlight.RAISES_RGB, "want": highlight.RAISES_RGB, "stop": highlight.LOWERS_RGB}
    assert 'title="raises score: +2.00 log-odds (rank 1)"' in box


def test_spans_that_do_not_fit_are_dropped_not_drawn_elsewhere() -> None:
    bad = [
        Contribution(feature="text", value="want", contribution=1.0, start=3, end=7),  # off by one
        Contribution(feature="text", value="now", contribution=1.0, start=len(TEXT) - 3, end=len(TEXT) + 5),
        Contribution(feature="text", value="x", contribution=1.0, start=None, end=None),
        Contribution(feature="other", value="want", contribution=1.0, start=2, end=6),
    ]
    good = word(TEXT, "want", 0.3)
    overlapping = Contribution(feature="text", value="ant", contribution=0.1, start=3, end=6)
    assert highlight.spans(TEXT, [*bad, good, overlapping], "text") == [good]
    assert unwrap(highlight.highlight_html(TEXT, bad, "text")) == html.escape(TEXT)


def test_text_feature_and_top_words() -> None:
    words = [word(TEXT, "end", 2.0), word(TEXT, "stop", -1.0)]
    assert highlight.text_feature({"text": TEXT}, words) == "text"
    assert highlight.text_feature({"text": TEXT}, []) == "text"  # no word moved it enough: still a text item
    assert highlight.text_feature({"amount": 5.0, "hour": 3}, []) is None
    assert highlight.text_feature({"amount": 5.0}, []) is None
    evil = Contribution(feature="text", value="<i>x</i>", contribution=1.0, start=0, end=8)
    assert highlight.top_words_html([evil, *words], n=2) == (
        '<p class="rq-top-words">Words that moved the score most (log-odds): <b>end</b> (+2.00), '
        "<b>&lt;i&gt;x&lt;/i&gt;</b> (+1.00)</p>")
    assert "No single word" in highlight.top_words_html([])


def test_word_rows_keep_repeated_words_apart() -> None:
    text = "no no never"
    rows = highlight.word_rows([word(text, "no", 0.2), word(text, "no", -0.5, occurrence=1),
                                word(text, "never", 0.1)])
    assert [(r["feature"], r["effect"], r["order"]) for r in rows] == [
        ("no @3", "lowers score", 0), ("no @0", "raises score", 1), ("never", "raises score", 2)]


@given(st.text(max_size=80), st.lists(st.tuples(st.integers(0, 90), st.integers(1, 12), st.floats(-5, 5)),
                                      max_size=8))
def test_any_text_comes_back_escaped_and_whole(text: str, raw: list[tuple[int, int, float]]) -> None:
    words = [Contribution(feature="text", value=text[s:s + n], contribution=c, start=s, end=s + n)
             for s, n, c in raw]
    box = highlight.highlight_html(text, words, "text")
    assert unwrap(box) == html.escape(text)
    outside_our_tags = re.sub(r"^<div[^>]*>|</div>$", "", SPAN.sub("", box))
    assert "<" not in outside_our_tags and ">" not in outside_our_tags


def test_stop_words_are_never_highlighted_charted_or_listed() -> None:
    text = "The pain and the plan. I want THE end"
    words = [word(text, "The", 3.0), word(text, "the", 2.5, occurrence=0), word(text, "plan", 1.2),
             word(text, "I", 0.9), word(text, "THE", 0.8), word(text, "end", -0.5)]
    box = highlight.highlight_html(text, words, "text")
    assert [w for *_, w in SPAN.findall(box)] == ["plan", "end"]
    assert unwrap(box) == html.escape(text)  # the stop-words are still there, as plain text
    assert [r["feature"] for r in highlight.word_rows(words)] == ["plan", "end"]
    top = highlight.top_words_html(words)
    assert "<b>plan</b>" in top and "<b>end</b>" in top and ">the<" not in top.lower()
    assert highlight.is_stop_word("the") and highlight.is_stop_word("The,") and not highlight.is_stop_word("pills")
    # scikit-learn lists these too, but they carry the meaning of a message: kept
    assert not any(highlight.is_stop_word(w) for w in ("not", "never", "nothing", "nobody", "alone", "empty"))
    only_stop = [word(text, "The", 3.0)]
    assert "No single word moves the score much" in highlight.top_words_html(only_stop)
