"""`reviewqueue ui` as a real process: Streamlit takes the command's PID (exec), so SIGTERM to that PID stops
Streamlit and frees its port; and the Streamlit settings the product ships (ui/.streamlit/config.toml) are the
ones Streamlit reads, whatever the working directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from reviewqueue_dev.processes import ROOT
from reviewqueue_dev.threaded_server import free_port


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _poll(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)  # polling with a deadline


def test_sigterm_on_reviewqueue_ui_stops_streamlit_and_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "ui.log").open("wb")
    env = {**os.environ, "REVIEWQUEUE_API_URL": "http://127.0.0.1:9"}
    process = subprocess.Popen([sys.executable, "-m", "reviewqueue.cli", "ui", "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            assert process.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _poll(answers, 120, "reviewqueue ui did not answer")
        children = _descendants(process.pid)
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        _poll(lambda: _port_free(port), 30, f"port {port} still held after SIGTERM")
        _poll(lambda: not any(_alive(pid) for pid in children), 30, f"children left running: {children}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_streamlit_reads_the_shipped_config_from_any_working_directory(tmp_path: Path) -> None:
    script = ROOT / "ui" / "app.py"
    code = ("from streamlit import config\n"
            f"config._main_script_path = {str(script)!r}\n"
            "config.get_config_options(force_reparse=True)\n"
            "print(config.get_option('client.toolbarMode'), config.get_option('browser.gatherUsageStats'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(tmp_path)}, check=True).stdout.split()
    assert out == ["minimal", "False"]
