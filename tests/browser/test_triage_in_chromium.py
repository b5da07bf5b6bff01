"""One real browser test: `reviewqueue run` (the product as a newcomer starts it), headless Debian Chromium
driven by Playwright: sign in as the demo reviewer, open triage, see an item, decide it with one key, see
the next item. Screenshots are saved under test-artifacts/ for people to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from reviewqueue_dev.processes import ROOT
from reviewqueue_dev.threaded_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture
def running_product(tmp_path: Path) -> Iterator[str]:
    """`reviewqueue run` on free ports in a temp data dir; yields the UI URL once it printed READY."""
    with run_product(tmp_path) as (ui_url, _api_url):
        yield ui_url


@contextmanager
def run_product(tmp_path: Path, *args: str) -> Iterator[tuple[str, str]]:
    """`reviewqueue run` (plus ``args``) on free ports in a temp data dir (``tmp_path / "var"``); yields
    (UI URL, API URL) once it printed READY; its output is in ``tmp_path / "run.log"``."""
    api_port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQUEUE_")}
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reviewqueue.cli", "run", "--api-port", str(api_port), "--ui-port", str(ui_port),
             "--data-dir", str(tmp_path / "var"), *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 240
            while b"READY" not in log_path.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"reviewqueue run did not get ready:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)  # polling the log with a deadline
            try:
                yield f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"
            except BaseException:
                print(product_logs(tmp_path, process))  # pytest shows it beside the failure: why it happened
                raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    assert process.returncode == 0, log_path.read_text()[-3000:]


def product_logs(tmp_path: Path, process: subprocess.Popen[bytes]) -> str:
    """The run's own output and the end of each child's log (API, worker, UI), for a failure's report."""
    state = "running" if process.poll() is None else f"exited with {process.returncode}"
    parts = [f"reviewqueue run: {state}", (tmp_path / "run.log").read_text(errors="replace")[-3000:]]
    for log in sorted((tmp_path / "var" / "demo" / "logs").glob("*.log")):
        parts += [f"--- {log.name}", "\n".join(log.read_text(errors="replace").splitlines()[-40:])]
    return "\n".join(parts)


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Name").fill("ana")
    page.get_by_role("textbox", name="Password").fill("ana-demo")
    page.get_by_role("button", name=re.compile("Sign in")).click()


def test_reviewer_triages_an_item_with_one_key(running_product: str) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is required (make test installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sign_in(page, running_product)
            page.get_by_role("link", name=re.compile("Triage")).click()
            claim = page.get_by_role("button", name=re.compile("Claim next"))
            claim.click()
            first = page.get_by_text(re.compile(r"demo-\d{4}")).first
            expect(first).to_be_visible(timeout=30_000)
            first_id = first.inner_text()
            expect(page.get_by_text(re.compile("Top reasons"))).to_be_visible()
            expect(page.locator(".vega-embed").first).to_be_visible(timeout=30_000)  # the explanation chart
            page.screenshot(path=str(ARTIFACTS / "triage.png"), full_page=True)
            page.keyboard.press("l")  # one key: legit
            expect(page.get_by_text(re.compile("Decided legit"))).to_be_visible(timeout=30_000)
            expect(page.get_by_text(re.compile(r"demo-\d{4}")).first).not_to_have_text(first_id, timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "triage-next.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "triage.png").stat().st_size > 10_000
