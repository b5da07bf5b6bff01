"""Swagger UI and ReDoc render in headless Debian Chromium with every request to anything but this loopback
server aborted: the API's docs need no CDN (ReDoc's attribution logo is the one thing its bundle asks for)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Route, expect, sync_playwright

from tests.browser.test_triage_in_chromium import CHROMIUM, CHROMIUM_ARGS


def test_docs_render_with_the_network_beyond_loopback_blocked(live_api: str, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is required (make test installs it)"
    own = urlsplit(live_api).netloc
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.route("**/*", only_loopback)
            page.goto(f"{live_api}/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
            assert page.locator(".opblock").count() > 10  # the operations of /openapi.json, listed
            expect(page.locator('[data-path="/v1/models/{model}/predictions"]').first).to_be_visible()
            page.screenshot(path=str(tmp_path / "docs.png"))
            page.goto(f"{live_api}/redoc")
            expect(page.locator("redoc-wrap, .redoc-wrap").first).to_be_attached(timeout=30_000)
            expect(page.get_by_text("Score events, route uncertain ones").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "redoc.png"))
        finally:
            browser.close()
    # Nothing the pages need leaves the machine; ReDoc's bundle asks only for its own attribution logo, which is
    # aborted here and missing offline, without harm.
    assert all(url == "https://cdn.redoc.ly/redoc/logo-mini.svg" for url in blocked), blocked
