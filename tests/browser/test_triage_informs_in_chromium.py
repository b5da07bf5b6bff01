"""Triage that informs, in real Chromium over `reviewqueue run` (one product for the module): (a) the "Open in
reviewqueue" link of a Slack message the loopback Slack server received opens that item after sign-in,
(b) the session survives a reload (a SameSite=Strict cookie, no token in the URL) and sign-out ends it, (c) the
verdict buttons say what they will do and whether it can be undone. Screenshots under test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.test_triage_in_chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, run_product

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]
LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/\?item=(\d+))\|Open in reviewqueue>")


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One `reviewqueue run` for this module: its UI URL, API URL and run log."""
    folder = tmp_path_factory.mktemp("informs")
    with run_product(folder) as (ui_url, api_url):
        yield {"ui": ui_url, "api": api_url, "log": folder / "run.log"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian chromium is required (make test installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(page: Page, name: str = "ana", password: str = "ana-demo") -> None:
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name=re.compile("Sign in")).click()
    expect(page.get_by_text(re.compile(f"Signed in as {name}"))).to_be_visible(timeout=30_000)


RISKY = {"amount": 950.0, "merchant_category": "digital_goods", "country_mismatch": True, "account_age_days": 3,
         "card_present": False, "hour": 3, "velocity_1h": 4}


def slack_link(product: dict[str, Any]) -> tuple[str, int, str]:
    """The shop sends an obvious fraud: the model flags it (its Slack alert fires at once; the refund waits for a
    person, so it becomes an item). The "Open in reviewqueue" link of that message as the sandbox Slack received
    it: (url, item id, text)."""
    log = product["log"].read_text()
    sink = re.search(r"sink at\s+(http://127\.0\.0\.1:\d+)/sandbox/messages", log)
    token = re.search(r"\(integration role\):\s*(\S+)", log)
    assert sink and token, log[-2000:]
    event = {"external_id": "shop-flagged-1", "features": RISKY,
             "context": {"charge_id": "ch_flagged_1", "user_id": "u_flagged", "currency": "usd"}}
    answer = httpx.post(f"{product['api']}/v1/models/fraud/predictions", json={"events": [event]},
                        headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    [flagged] = answer.json()["predictions"]
    assert flagged["route"] == "auto_flag" and flagged["item_id"], answer.text
    deadline = time.monotonic() + 60
    while True:
        messages = httpx.get(f"{sink.group(1)}/sandbox/messages", timeout=10).json()["slack"]
        for message in messages:
            found = LINK.search(str(message.get("text", "")))
            if found and "shop-flagged-1" in str(message.get("text", "")):
                return found.group(1), int(found.group(2)), str(message["text"])
        assert time.monotonic() < deadline, f"no fraud message with a link reached the sandbox: {messages}"
        time.sleep(0.5)  # polling the sandbox with a deadline: the worker delivers in the background


def test_a_slack_link_opens_its_item_after_sign_in(product: dict[str, Any], browser: Browser) -> None:
    url, item_id, text = slack_link(product)
    assert url.startswith(product["ui"] + "/?item=")
    external_id = text.split("] ", 1)[1].split(":", 1)[0]
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.goto(url)
    expect(page.get_by_role("textbox", name="Name")).to_be_visible(timeout=30_000)  # signed out: sign in first
    sign_in(page)
    expect(page.get_by_role("heading", name="Triage")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=external_id)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"item #{item_id}")).to_be_visible()
    expect(page.get_by_text(re.compile("History of user_id"))).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "triage-deep-link.png"), full_page=True)
    assert "item=" not in page.url  # taken once: a reload does not reopen it
    page.context.close()


def test_staying_signed_in_across_a_reload(product: dict[str, Any], browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(product["ui"])
    sign_in(page, "cleo", "cleo-demo")
    # a script on the signed-in page writes it, a moment after the page draws (it is not HttpOnly: SECURITY.md)
    page.wait_for_function("document.cookie.split('; ').some(c => c.startsWith('rq_session='))", timeout=30_000)
    [cookie] = [c for c in context.cookies() if c["name"] == "rq_session"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/" and cookie["value"] not in page.url
    page.reload()
    expect(page.get_by_text(re.compile("Signed in as cleo"))).to_be_visible(timeout=30_000)
    expect(page.get_by_role("textbox", name="Name")).to_have_count(0)
    expect(page.get_by_text("Pending").first).to_be_visible(timeout=30_000)  # the queues, drawn
    page.screenshot(path=str(ARTIFACTS / "signed-in-after-reload.png"), full_page=True)
    # signing out revokes the token and deletes the cookie: a reload stays signed out
    page.get_by_role("button", name=re.compile("Sign out")).click()
    expect(page.get_by_role("textbox", name="Name")).to_be_visible(timeout=30_000)
    page.wait_for_function("!document.cookie.split('; ').some(c => c.startsWith('rq_session='))", timeout=15_000)
    assert not [c for c in context.cookies() if c["name"] == "rq_session"], "the session cookie was not deleted"
    page.reload()
    expect(page.get_by_role("textbox", name="Name")).to_be_visible(timeout=30_000)
    revoked = httpx.get(f"{product['api']}/v1/me", headers={"Authorization": f"Bearer {cookie['value']}"})
    assert revoked.status_code == 401
    # a cookie whose token no longer works lands on sign-in with a message
    context.add_cookies([{**cookie, "value": cookie["value"]}])
    page.reload()
    expect(page.get_by_text(re.compile("Your saved session ended"))).to_be_visible(timeout=30_000)
    context.close()


def test_verdict_buttons_preview_their_actions(product: dict[str, Any], browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.goto(product["ui"])
    sign_in(page, "sam", "sam-demo")
    page.get_by_role("link", name=re.compile("Triage")).click()
    page.get_by_role("button", name=re.compile("Claim next")).click()
    fraud = page.get_by_role("button", name=re.compile(r"^Fraud — refunds \$[\d,.]+ on ch_"))
    expect(fraud).to_be_visible(timeout=30_000)
    label = fraud.inner_text()
    assert "(irreversible)" in label and "posts to #fraud-alerts" in label and "undo within 30 s" in label, label
    legit = page.get_by_role("button", name=re.compile("^Legit — "))
    assert "fires at once, reversible later" in legit.inner_text()
    colours = [b.evaluate("e => getComputedStyle(e).backgroundColor") for b in (fraud, legit)]
    assert colours[0] != colours[1], colours  # distinct colours
    expect(page.locator(".vega-embed").first).to_be_visible(timeout=30_000)  # the explanation chart, drawn
    page.screenshot(path=str(ARTIFACTS / "triage-verdict-preview.png"), full_page=True)
    page.context.close()
