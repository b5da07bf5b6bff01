"""The Monitor page, driven by AppTest against the real API: its tabs, drift and calibration."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.ui.helpers import sign_in


def test_monitor_page_opens_with_its_tabs_in_order(app: AppTest, people: Any) -> None:
    at = sign_in(app, "admin", "admin-pw")
    at.switch_page("views/monitor.py").run()
    assert not at.exception
    labels = [t.label for t in at.tabs]
    assert labels[:2] == ["Drift", "Calibration"]
