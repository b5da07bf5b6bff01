"""Operator latency: key press → next item shown, in real headless Chromium against `reviewqueue run`.

Starts the product as a newcomer would (embedded SQLite, demo data), signs in as the demo reviewer, claims an
item, then repeatedly presses the verdict key and measures until the next item's external id is on screen.
No bare baseline exists for a whole UI round trip; the figure is reported against the target (≤ 500 ms median).

    .venv/bin/python bench/ui_keypress.py --presses 25
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from reviewqueue_dev.threaded_server import free_port  # noqa: E402

# the item heading (an <h3> holding the external id) shows another id than before the key press
NEXT_ITEM_SHOWN = """(before) => Array.from(document.querySelectorAll('h1,h2,h3,h4'))
    .map(h => (h.innerText.match(/demo-[0-9]{4}/) || [null])[0]).some(id => id && id !== before)"""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=25)
    args = parser.parse_args()
    api_port, ui_port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="rq-keypress-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQUEUE_")}
    log = (data / "run.log").open("wb")
    product = subprocess.Popen([sys.executable, "-m", "reviewqueue.cli", "run", "--api-port", str(api_port),
                                "--ui-port", str(ui_port), "--data-dir", str(data / "var")],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while b"READY" not in (data / "run.log").read_bytes():
            if product.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((data / "run.log").read_text()[-2000:])
            time.sleep(0.2)
        timings = measure(f"http://127.0.0.1:{ui_port}", args.presses)
    finally:
        product.terminate()
        product.wait(timeout=60)
    timings.sort()
    p90 = timings[int(0.9 * (len(timings) - 1))]
    print(f"key press → next item shown over {len(timings)} presses: median {statistics.median(timings):.0f} ms, "
          f"p90 {p90:.0f} ms, min {timings[0]:.0f} ms, max {timings[-1]:.0f} ms (target: median ≤ 500 ms)")


def measure(url: str, presses: int) -> list[float]:
    pattern = re.compile(r"demo-\d{4}")
    timings: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("textbox", name="Name").fill("ana")
        page.get_by_role("textbox", name="Password").fill("ana-demo")
        page.get_by_role("button", name=re.compile("Sign in")).click()
        page.get_by_role("link", name=re.compile("Triage")).click()
        page.get_by_role("button", name=re.compile("Claim next")).click()
        heading = page.get_by_text(pattern).first
        heading.wait_for(timeout=30_000)
        for _ in range(presses):
            before = heading.inner_text()
            started = time.perf_counter()
            page.keyboard.press("l")
            page.wait_for_function(NEXT_ITEM_SHOWN, arg=before, timeout=30_000, polling="raf")
            timings.append((time.perf_counter() - started) * 1000)
        browser.close()
    return timings


if __name__ == "__main__":
    main()
