"""The Monitor page, driven by AppTest against the real API: its tabs, drift and calibration."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from models.fraud import synthetic_transactions
from reviewqueue.client import Client
from reviewqueue.services.context import AppContext
from tests.ui.helpers import sign_in, texts
from ui import monitor_model


def traffic(client: Client, n: int = 240, seed: int = 21) -> None:
    """n transactions like the training data, the first 40 labelled by an outcome (every fourth as fraud)."""
    frame = synthetic_transactions(n, seed=seed)
    events = [{"external_id": f"m-{i}", "features": {
        "amount": float(r.amount), "merchant_category": str(r.merchant_category),
        "country_mismatch": bool(r.country_mismatch), "account_age_days": int(r.account_age_days),
        "card_present": bool(r.card_present), "hour": int(r.hour), "velocity_1h": int(r.velocity_1h)},
        "context": {"charge_id": f"ch_m_{i}", "user_id": f"u_m_{i}", "currency": "usd"}}
        for i, r in enumerate(frame.itertuples(index=False))]
    client.predict("fraud", events)
    client.outcomes("fraud", [{"event_id": f"mo-{i}", "external_id": f"m-{i}", "label": "fraud" if i % 4 else "legit"}
                              for i in range(40)])


def test_monitor_page_opens_with_its_tabs_in_order(app: AppTest, people: Any) -> None:
    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    labels = [t.label for t in at.tabs]
    assert labels[:2] == ["Drift", "Calibration"]


def test_drift_and_calibration_tabs_show_their_tables_and_charts(app: AppTest, people: Any, live_api: str) -> None:
    with Client(live_api, people.integration) as business:
        traffic(business)
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    drift_table, calibration_table = at.dataframe[0].value, at.dataframe[1].value
    assert set(drift_table["input"]) == {"score", "amount", "merchant_category", "country_mismatch",
                                        "account_age_days", "card_present", "hour", "velocity_1h"}
    assert set(drift_table["n"]) == {240}
    assert set(drift_table["level"]) <= {"stable", "watch"}
    assert calibration_table["n"].sum() == 40
    # PSI over days (from 0, both thresholds drawn), the score distribution, the reliability diagram (0–1 axes)
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    psi_chart, distribution, reliability = specs[:3]  # the Drift and Calibration tabs come first
    assert psi_chart["layer"][0]["encoding"]["y"]["title"] == "PSI against training"
    assert distribution["encoding"]["y"]["scale"]["zero"] is True
    assert psi_chart["layer"][0]["encoding"]["y"]["scale"]["domain"][0] == 0
    assert {v["psi"] for v in psi_chart["layer"][1]["data"]["values"]} == {0.1, 0.25}
    assert reliability["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 1]
    shown = texts(at)
    assert "against its training data (16000 rows)" in shown
    assert "Labelled predictions: 40" in shown and "Brier score" in shown


def test_a_version_without_reference_says_so_on_the_page(app: AppTest, people: Any, ctx: AppContext) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE model_versions SET reference = NULL"))
    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    assert "v1 has no training reference" in texts(at)


def test_psi_table_puts_the_worst_input_first() -> None:
    from datetime import date

    from reviewqueue.schemas import DriftDay, DriftReport, FeatureDrift

    def feature(name: str, psi: float, level: str) -> FeatureDrift:
        day = DriftDay(day=date(2026, 12, 1), n=500, total=500, psi=psi, psi_low=psi / 2, psi_high=psi * 2,
                       noise=0.018, level=level)
        return FeatureDrift(feature=name, kind="numeric", days=[day], latest=day, alerted=[date(2026, 12, 1)])

    report = DriftReport(model="fraud", version=1, has_reference=True, note="", reference_rows=10, days=1,
                         watch=0.1, alert=0.25, min_sample=200, score_bins=[], window_n=500,
                         features=[feature("score", 0.02, "stable"), feature("amount", 0.4, "alert")])
    rows = monitor_model.drift_rows(report)
    assert [(r["input"], r["level"], r["95% interval"]) for r in rows] == [
        ("amount", "alert", "0.200–0.800"), ("score", "stable", "0.010–0.040")]
    assert rows[0]["alerted"] == "2026-12-01"
    styled = monitor_model._styled(rows).to_html()  # the level and PSI cells, coloured by threshold
    assert re.search(r"row0_col1, #T_\w+_row0_col2 \{\s*background-color: " + monitor_model.LEVEL_COLOURS["alert"],
                     styled)
    assert re.search(r"row1_col1, #T_\w+_row1_col2 \{\s*background-color: " + monitor_model.LEVEL_COLOURS["stable"],
                     styled)
