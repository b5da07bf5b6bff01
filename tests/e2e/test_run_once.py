"""`reviewqueue run` is safe to start twice: a second run (same data dir, or a port of the first) exits 1 with
one line and touches nothing — no wiped var/demo, no banner, no READY — and the first keeps working. A lock
file left by a killed run is taken over. An extra model module joins the demo with ``--models``.

One real product (tests/browser/test_triage_in_chromium.run_product) is shared by the module's tests."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reviewqueue_dev.demo import demo_modules
from reviewqueue_dev.instance import RunLock, StartRefused, listens_on
from reviewqueue_dev.processes import ROOT
from reviewqueue_dev.threaded_server import free_port
from tests.browser.test_triage_in_chromium import run_product

pytestmark = pytest.mark.embedded_only


@dataclass
class Product:
    home: Path
    api_url: str
    ui_url: str

    @property
    def data_dir(self) -> Path:
        return self.home / "var"

    def port(self, which: str) -> int:
        return int((self.api_url if which == "api" else self.ui_url).rsplit(":", 1)[1])


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    home = tmp_path_factory.mktemp("run-once")
    (home / "var").mkdir()
    # a lock file left by a killed run: its PID is dead and nobody holds the lock, so this run takes it over
    (home / "var" / "run.pid").write_text(json.dumps({"pid": dead_pid(), "api_url": "http://127.0.0.1:1"}))
    with run_product(home, "--models", "tests.demo_extra_model") as (ui_url, api_url):
        yield Product(home, api_url, ui_url)


def second_run(data_dir: Path, api_port: int, ui_port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQUEUE_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reviewqueue.cli", "run", "--api-port", str(api_port), "--ui-port", str(ui_port),
         "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < 30, "a refused start must be quick"
    return done


def demo_files(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in (data_dir / "demo").rglob("*") if "logs" not in p.parts}


def shop_token(product: Product) -> str:
    match = re.search(r"integration role\):\s+(\S+)", (product.home / "run.log").read_text())
    assert match, "the banner names the demo business system's token"
    return match.group(1)


def transaction(external_id: str) -> dict[str, object]:
    import models.fraud as fraud

    row = fraud.synthetic_transactions(n=50, seed=11).iloc[0].to_dict()
    features = {name: (v.item() if hasattr(v, "item") else v) for name, v in row.items() if name != "label"}
    return {"external_id": external_id, "features": features}


def assert_refused(done: subprocess.CompletedProcess[str], line: str) -> None:
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert output == line, output
    assert "READY" not in output and "reviewqueue is running" not in output


def test_a_second_run_is_refused_and_the_first_is_unharmed(product: Product) -> None:
    before = demo_files(product.data_dir)
    assert "demo/artifacts" in before and "demo/reviewqueue.db" in before
    pid = json.loads((product.data_dir / "run.pid").read_text())["pid"]

    done = second_run(product.data_dir, product.port("api"), product.port("ui"))

    assert_refused(done, f"reviewqueue run is already running (pid {pid}, API {product.api_url}); stop it first")
    assert before <= demo_files(product.data_dir)  # nothing deleted: the first run's models, database, business DB
    with httpx.Client(base_url=product.api_url, timeout=120) as api:
        scored = api.post("/v1/models/fraud/predictions", json={"events": [transaction("after-second-run")]},
                          headers={"Authorization": f"Bearer {shop_token(product)}"})
        assert scored.status_code == 200, scored.text
        token = api.post("/v1/sessions", json={"name": "dan", "password": "dan-demo"}).json()["token"]
        retrained = api.post("/v1/models/fraud/retrain", headers={"Authorization": f"Bearer {token}"})
        assert retrained.status_code == 202, retrained.text  # started; it trains after the answer


def test_a_busy_port_is_refused_before_anything_is_touched(product: Product, tmp_path: Path) -> None:
    with socket.socket() as other:  # another program listening on the UI port this run would take
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        done = second_run(tmp_path / "var", free_port(), busy)
    assert_refused(done, f"port {busy} is in use by another program; set REVIEWQUEUE_UI_PORT=… or stop it")
    assert not (tmp_path / "var" / "demo").exists()

    # the running product's API port, from another data dir: refused by the port check, the first unharmed
    done = second_run(tmp_path / "var", product.port("api"), free_port())
    assert_refused(done, f"port {product.port('api')} is in use by another program; "
                         "set REVIEWQUEUE_API_PORT=… or stop it")
    assert httpx.get(f"{product.api_url}/healthz", timeout=10).status_code == 200


def test_an_extra_model_module_joins_the_demo(product: Product) -> None:
    with httpx.Client(base_url=product.api_url, timeout=60) as api:
        scored = api.post("/v1/models/fraud_extra/predictions", json={"events": [transaction("extra-1")]},
                          headers={"Authorization": f"Bearer {shop_token(product)}"})
    assert scored.status_code == 200, scored.text  # registered and trained (v1) at start


def test_the_lock_names_a_live_holder_and_a_stale_file_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "run.pid").write_text(json.dumps({"pid": dead_pid()}))
    lock = RunLock(tmp_path).acquire("http://127.0.0.1:1", "http://127.0.0.1:2")
    try:
        assert json.loads((tmp_path / "run.pid").read_text())["pid"] == os.getpid()
        with pytest.raises(StartRefused, match=rf"already running \(pid {os.getpid()}, API http://127.0.0.1:1\)"):
            RunLock(tmp_path).acquire("http://127.0.0.1:3", "http://127.0.0.1:4")
    finally:
        lock.release()
    RunLock(tmp_path).acquire("http://127.0.0.1:3", "http://127.0.0.1:4").release()  # released: free again


def test_readiness_counts_only_the_childs_own_listener(product: Product) -> None:
    """What READY rests on: the running product's API port is held by its API child, not by this process."""
    with socket.socket() as mine:
        mine.bind(("127.0.0.1", 0))
        mine.listen()
        port = mine.getsockname()[1]
        assert listens_on(os.getpid(), port)
        assert not listens_on(os.getpid(), product.port("api"))  # answers 200, but it is not this process's


def test_extra_modules_join_the_shipped_two_once() -> None:
    assert demo_modules(['["models.churn"]', "models.churn, tests.demo_extra_model", "models.fraud"]) == [
        "models.fraud", "models.self_harm", "models.churn", "tests.demo_extra_model"]
