"""Invariant 12 in a real browser: an item whose client-sent external_id is a Markdown link and image shows on
the triage page as its literal text — no <a href> to the attacker's site, no <img> fetched from their server.
`reviewqueue run` and headless Debian Chromium, as in test_triage_in_chromium; the screenshot is saved in the
test's tmp path."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from reviewqueue.client import Client
from tests.browser.test_triage_in_chromium import CHROMIUM, CHROMIUM_ARGS, run_product, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]

HOSTILE = "[click me](https://evil.example) ![x](http://127.0.0.1:9/x.png)"
AMOUNT = 1_000_000.0  # priority = score x amount: far above every demo item, so it is claimed first


def _review_band_features(client: Client) -> dict[str, object]:
    """Features fraud's champion scores inside the review band at AMOUNT (asked of the API, nothing stored)."""
    [fraud] = [m for m in client.models() if m.name == "fraud"]
    assert fraud.champion_version is not None
    candidates = [
        {"amount": AMOUNT, "merchant_category": category, "country_mismatch": mismatch, "account_age_days": age,
         "card_present": present, "hour": 14, "velocity_1h": 0}
        for category, mismatch, age, present in itertools.product(
            ["grocery", "digital_goods"], [False, True], [900, 3], [True, False])
    ]
    scored = client.score("fraud", fraud.champion_version, candidates)
    for features, route in zip(candidates, scored.would_route, strict=True):
        if route == "review":
            return features
    raise AssertionError(f"no candidate lands in fraud's review band: {scored.scores}")


def test_a_markdown_external_id_shows_as_text_not_as_a_link_or_image(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is required (make test installs it)"
    with run_product(tmp_path) as (ui_url, api_url), Client(api_url) as client:
        client.with_token(client.sign_in("admin", "admin-demo").token)
        features = _review_band_features(client)
        [prediction] = client.predict("fraud", [{"external_id": HOSTILE, "features": features,
                                                 "context": {"charge_id": "ch_hostile", "user_id": "u-hostile",
                                                             "currency": "usd"}}])
        assert prediction.route == "review" and prediction.item_id is not None

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                sign_in(page, ui_url)
                page.get_by_role("link", name=re.compile("Triage")).click()
                page.get_by_role("button", name=re.compile("Claim next")).click()
                literal = page.get_by_text(HOSTILE, exact=True)
                # A claim may take the oldest audit item first (RoutingPolicy.audit_claim_share, drawn at random):
                # give such an item back (Release) until the hostile one, the highest priority, is shown.
                for _ in range(5):
                    heading = page.get_by_role("heading", level=3).first
                    expect(heading).to_be_visible(timeout=30_000)
                    if literal.count():
                        break
                    shown = heading.inner_text()
                    page.get_by_role("button", name=re.compile("^Release")).click()
                    expect(page.get_by_role("heading", level=3).first).not_to_have_text(shown, timeout=30_000)
                expect(literal.first).to_be_visible(timeout=30_000)  # the text itself, as sent
                expect(page.get_by_text(re.compile("Top reasons"))).to_be_visible()
                page.screenshot(path=str(tmp_path / "hostile-external-id.png"), full_page=True)
                assert page.locator('a[href*="evil.example"]').count() == 0
                assert page.locator('img[src*="127.0.0.1:9"]').count() == 0
                assert page.locator("a", has_text="click me").count() == 0
            finally:
                browser.close()
    assert (tmp_path / "hostile-external-id.png").stat().st_size > 10_000
