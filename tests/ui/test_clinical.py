"""The text model in the UI: a clinician sees the message with its weightiest words highlighted (and never as
markup), decides with a digit key, and sees overdue high-risk items flagged on the Queues and Triage pages.

Runs against the real API (uvicorn on a thread) over the test's database with self_harm v1 (zero-shot) as
champion; see tests/ui/conftest.py for the once-per-session encoder export.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue.schemas import PredictionOut
from tests.ui.helpers import Clinic, ingest_uncertain, rows, shown, sign_in, texts
from ui import highlight

# Patient input that tries to inject markup: it must come out escaped, the words still highlighted.
MESSAGE = ("I can't do this anymore <b>really</b> & I want to end my life.\n"
           "<script>alert('x')</script> please <img src=x onerror=alert(1)> call me")
LATE_MESSAGE = "I want to end my life, I keep thinking about killing myself."  # high risk: the SLA applies
SPAN = re.compile(r'<span class="rq-word rq-(raises|lowers)" data-rank="(\d+)" title="[^"<>]*" style="[^"<>]*">'
                  r"([^<]*)</span>")


def send(api: str, token: str, external_id: str, message: str) -> PredictionOut:
    with Client(api, token) as integration:
        [prediction] = integration.predict("self_harm", [
            {"external_id": external_id, "features": {"text": message},
             "context": {"patient_id": f"p-{external_id}", "channel": "portal"}}])
    assert prediction.route == "review" and prediction.item_id is not None, prediction
    return prediction


def test_text_item_shows_the_message_escaped_with_its_words_highlighted(
    clinic_app: AppTest, text_ctx: Any, text_api: str, clinic: Clinic
) -> None:
    sent = send(text_api, clinic.integration, "msg-1", MESSAGE)
    with Client(text_api, clinic.admin) as admin:
        explanation = admin.item(sent.item_id or 0).explanation
    assert explanation and all(c.feature == "text" and c.start is not None for c in explanation)
    top = max(explanation, key=lambda c: abs(c.contribution))

    at = sign_in(clinic_app, "clinician", "clinician-pw")
    at.switch_page("views/triage.py").run()
    at.button(key="claim").click().run()
    assert not at.exception
    assert "msg-1" in [shown(s.value) for s in at.subheader]

    [body] = [h.value for h in at.html if "rq-message" in h.value]  # (the other: the verdict colours)
    message_box = body[:body.index("</div>") + len("</div>")]
    assert "<script" not in body and "<img" not in body and "<b>" not in message_box
    highlighted = SPAN.findall(message_box)
    assert ("raises" if top.contribution >= 0 else "lowers", "1", html.escape(str(top.value))) in highlighted
    assert len(highlighted) == len([c for c in explanation if not highlight.is_stop_word(c.value)])  # no "the"
    # strip our spans and the box: exactly the escaped message is left, every character in place
    inner = re.sub(r"^<div[^>]*>|</div>$", "", SPAN.sub(r"\3", message_box))
    assert inner == html.escape(MESSAGE)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in inner and "&lt;b&gt;really&lt;/b&gt; &amp; I" in inner

    assert [m.label for m in at.metric] == ["Score", "Priority", "Age"]  # no Amount for a text item
    page = texts(at)
    assert "SLA 15 min: due" in page and "OVERDUE" not in page  # high risk, fresh
    buttons = {b.key: (shown(b.label), b.proto.shortcut) for b in at.button
               if b.key and b.key.startswith("verdict-")}
    assert buttons == {
        "verdict-concern": ("Concern — posts to #clinical-oncall · fires at once, reversible later", "1"),
        "verdict-no concern": ("No concern — records the verdict only, nothing fires", "2")}

    at.button(key="verdict-no concern").click().run()
    assert not at.exception
    decided = rows(text_ctx, "SELECT d.verdict, l.value FROM decisions d JOIN labels l ON l.decision_id = d.id")
    assert [tuple(r) for r in decided] == [("no concern", "no concern")]
    assert [shown(t.value) for t in at.toast] == ["Decided no concern: no actions queued"]


def test_overdue_item_is_flagged_on_queues_and_triage(
    clinic_app: AppTest, text_ctx: Any, text_api: str, clinic: Clinic
) -> None:
    sent = send(text_api, clinic.integration, "msg-late", LATE_MESSAGE)
    with text_ctx.engine.begin() as conn:  # it arrived an hour ago and nobody picked it up
        conn.execute(text("UPDATE review_items SET created_at = :then WHERE id = :i"),
                     {"then": datetime.now(UTC) - timedelta(hours=1), "i": sent.item_id})
    [priority] = rows(text_ctx, "SELECT priority FROM review_items WHERE id = :i", i=sent.item_id)
    assert priority[0] >= 0.5  # the SLA covers high-risk items only

    at = sign_in(clinic_app, "clinician", "clinician-pw")  # lands on Queues
    assert not at.exception
    overdue = [(m.value, m.delta) for m in at.metric if m.label == "Overdue"]
    assert overdue == [("1", "1 past SLA"), ("—", "")]  # clinical, then clinical-learning (no SLA)
    page = texts(at)
    assert ":red-badge[:material/alarm: 1 overdue]" in page
    assert "ranked by risk" in page and "ranked by uncertainty — learning budget" in page

    at.button(key="start-clinical").click().run()
    assert not at.exception
    assert "msg-late" in [shown(s.value) for s in at.subheader]
    [badge] = [shown(e.value) for e in at.error]
    assert badge.startswith("**OVERDUE (SLA 15 min: was due") and badge.endswith(" ago)**")


def test_models_page_shows_quality_and_precision_at_k(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as integration:
        queued = ingest_uncertain(integration, n=3)
    with Client(live_api, people.reviewer) as reviewer:  # label all three: the top two fraud, the third legit
        for verdict in ("fraud", "fraud", "legit"):
            item = reviewer.claim_next("fraud")
            assert item is not None and item.lease_token
            reviewer.decide(item.id, verdict, item.lease_token)
    assert len(queued) == 3
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert not at.exception
    [p_at_k] = [c.proto for c in at.get("vega_lite_chart")
                if json.loads(c.proto.spec)["encoding"]["y"].get("title") == "precision at k"]
    points = convert_arrow_bytes_to_pandas_df(p_at_k.data.data)  # streamlit moves inline values here
    assert points[["version", "k", "precision", "labelled"]].values.tolist() == [
        ["v1", 3, 0.6667, 3]]  # fewer than 5 labelled predictions: one point, k = all of them
    [table] = [d.value for d in at.dataframe if "labels used" in d.value.columns]
    assert table[["version", "labels used", "labelled now"]].values.tolist() == [["v1", 0, 3]]
    assert table["AUC"].notna().all() and table["precision"].notna().all()  # fraud v1's held-out metrics
