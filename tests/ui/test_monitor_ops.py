"""The Monitor page's operations tabs under AppTest over the real API: the threshold what-if with its figures and
chart, applying it as a routing-policy version (admin, confirmed, the new version shown) and rolling it back;
reviewer statistics (admins only) and queue health charts."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from tests.ui.helpers import ingest_uncertain, rows, sign_in, texts


def _monitor(app: AppTest, who: str) -> AppTest:
    at = sign_in(app, who, f"{who}-pw")
    at.switch_page("views/monitor.py").run()
    assert not at.exception, at.exception
    return at


def test_thresholds_tab_estimates_and_applies_a_routing_policy_version(app: AppTest, people: Any, live_api: str,
                                                                        ctx: Any) -> None:
    with Client(live_api, token=people.integration) as client:
        ingest_uncertain(client, 4, prefix="ops")
    at = _monitor(app, "admin")
    assert [t.label for t in at.tabs][-3:] == ["Thresholds", "Reviewers", "Queues"]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["review / day"]) > 0 and metrics["auto-flag / day"] == "0.0"

    at.slider(key="whatif-high-fraud").set_value(0.3).run()  # the uncertain events (≥ 0.29) now mostly auto-flag
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["auto-flag / day"]) > 0
    assert any("vs now" in str(m.delta) for m in at.metric if m.label == "auto-flag / day")
    figures = next(d.value for d in at.dataframe if "figure" in d.value.columns)
    assert list(figures["figure"]) == ["recall", "precision", "missed"]
    assert all("n = 0" in text for text in figures["estimate"])  # no labels yet: said, not invented
    button = at.button(key="policy-apply-fraud")
    assert button.disabled  # neither a reason nor the confirmation yet
    at.text_input(key="policy-reason-fraud").input("fewer reviews of the obvious ones")
    at.checkbox(key="policy-confirm-fraud").check().run()
    at.button(key="policy-apply-fraud").click().run()
    assert not at.exception
    assert "Routing-policy version 1 is active" in texts(at)
    [stored] = rows(ctx, "SELECT version, review_high, actor, active FROM routing_policies")
    assert (stored.version, stored.review_high, stored.actor, bool(stored.active)) == (1, 0.3, "admin", True)

    at.text_input(key="policy-reason-fraud").input("back to the model's own")
    at.button(key="policy-rollback-fraud").click().run()
    assert "Back to the decorator's policy" in texts(at)
    assert [bool(r.active) for r in rows(ctx, "SELECT active FROM routing_policies")] == [False]


def test_a_data_scientist_sees_the_what_if_but_cannot_apply_nor_read_reviewer_figures(app: AppTest,
                                                                                        people: Any) -> None:
    at = _monitor(app, "data_scientist")
    shown = texts(at)
    assert "Only an admin applies thresholds." in shown and "Reviewer statistics are for admins." in shown
    assert not [b for b in at.button if b.key == "policy-apply-fraud"]


def test_reviewers_and_queues_tabs_show_their_tables_and_charts(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, token=people.integration) as client:
        ingest_uncertain(client, 3, prefix="rv")
    with Client(live_api, token=people.reviewer) as reviewer:
        item = reviewer.claim_next("fraud")
        assert item is not None and item.lease_token
        reviewer.decide(item.id, "legit", item.lease_token)
    at = _monitor(app, "admin")
    tables = [d.value for d in at.dataframe]
    reviewer_table = next(t for t in tables if "reviewer" in t.columns)
    assert list(reviewer_table["reviewer"]) == ["reviewer"] and list(reviewer_table["decisions"]) == [1]
    assert "timed n" in reviewer_table.columns and list(reviewer_table["timed n"]) == [1]
    assert "Open items per queue" in texts(at) and "Age of the oldest open item" in texts(at)
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    by_title = {json.dumps(s.get("encoding", {}).get("y", {}).get("title")): s for s in specs}
    # honest axes: counts and ages from 0, thresholds over the whole 0..1
    for title in ("open items (waiting or held)", "oldest open item's age (hours)"):
        assert by_title[json.dumps(title)]["encoding"]["y"]["scale"]["zero"] is True
    curve = next(s for s in specs if "layer" in s and any(
        layer.get("encoding", {}).get("x", {}).get("title") == "threshold (score)" for layer in s["layer"]))
    line = next(layer for layer in curve["layer"] if layer.get("encoding", {}).get("x", {}).get("title"))
    assert line["encoding"]["x"]["scale"]["domain"] == [0, 1] and line["encoding"]["y"]["scale"]["zero"] is True
    throughput = next(s for s in specs if s.get("encoding", {}).get("x", {}).get("title") == "decisions per day")
    assert throughput["encoding"]["x"]["scale"]["zero"] is True
