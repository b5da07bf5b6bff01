"""The Monitor page in a real browser: `reviewqueue run` and headless Debian Chromium (as in
test_triage_in_chromium). The demo's traffic (a third of it risky, against ~3% in training) drifts; sixty demo
predictions get outcomes so that calibration has labels. The Drift tab's PSI-over-days chart and score
distribution, and the Calibration tab's reliability diagram, must render as Vega charts (canvas or SVG);
screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from reviewqueue.client import Client
from tests.browser.test_triage_in_chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, run_product

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]
LABELLED = 60


def _rendered_charts(page: Page) -> int:
    """Vega charts drawn in the visible tab (vega-embed draws a canvas, or an SVG with its marks)."""
    return page.locator("[role=tabpanel]:visible .vega-embed").locator("canvas, svg.marks").count()


def test_monitor_page_draws_drift_and_calibration_charts(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is required (make test installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    with run_product(tmp_path) as (ui_url, api_url), Client(api_url) as client:
        client.with_token(client.sign_in("admin", "admin-demo").token)
        client.outcomes("fraud", [{"event_id": f"browser-{i}", "external_id": f"demo-{i:04d}",
                                   "label": "fraud" if i % 3 == 0 else "legit"} for i in range(LABELLED)])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 2000})
                page.goto(ui_url)
                page.get_by_role("textbox", name="Name").fill("dan")  # the demo data scientist
                page.get_by_role("textbox", name="Password").fill("dan-demo")
                page.get_by_role("button", name=re.compile("Sign in")).click()
                page.get_by_role("link", name=re.compile("Monitor")).click()
                expect(page.get_by_text("Population Stability Index, newest day with traffic")).to_be_visible(
                    timeout=30_000)
                expect(page.locator("[role=tabpanel]:visible .vega-embed").nth(1)).to_be_visible(timeout=30_000)
                page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks')"
                                       ".length >= 2", timeout=30_000)
                assert _rendered_charts(page) == 2  # PSI over days, score distribution
                page.screenshot(path=str(ARTIFACTS / "monitor-drift.png"), full_page=True)

                page.get_by_role("tab", name="Calibration").click()
                expect(page.get_by_text("Reliability diagram")).to_be_visible(timeout=30_000)
                expect(page.locator("[role=tabpanel]:visible .vega-embed").first).to_be_visible(timeout=30_000)
                page.wait_for_function("Array.from(document.querySelectorAll('[role=tabpanel]')).some(p => "
                                       "p.offsetParent !== null && p.querySelector('.vega-embed canvas, "
                                       ".vega-embed svg.marks'))", timeout=30_000)
                assert _rendered_charts(page) == 1
                labelled = page.locator('[data-testid="stMetric"]', has_text="Labelled predictions")
                expect(labelled).to_contain_text(str(LABELLED))
                page.screenshot(path=str(ARTIFACTS / "monitor-calibration.png"), full_page=True)
            finally:
                browser.close()
    assert (ARTIFACTS / "monitor-drift.png").stat().st_size > 10_000
    assert (ARTIFACTS / "monitor-calibration.png").stat().st_size > 10_000
