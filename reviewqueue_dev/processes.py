"""Start and stop reviewqueue's own processes (API, worker, UI) as children — for `reviewqueue run` and tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from reviewqueue_dev.instance import listens_on

ROOT = Path(__file__).resolve().parent.parent


class Child:
    """One child process with its log file; stop() asks politely (SIGTERM) and then insists."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=ROOT)
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: what a crash or an OOM kill looks like to the rest of the system."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def child_env(settings_env: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQUEUE_")}
    env.update(settings_env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def api_child(port: int, env: Mapping[str, str], log_dir: Path) -> Child:
    argv = [sys.executable, "-m", "uvicorn", "reviewqueue.api.main:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning"]
    return Child("api", argv, env, log_dir / "api.log")


def worker_child(env: Mapping[str, str], log_dir: Path, name: str = "worker") -> Child:
    return Child(name, [sys.executable, "-m", "reviewqueue.cli", "worker"], env, log_dir / f"{name}.log")


def ui_child(port: int, env: Mapping[str, str], log_dir: Path) -> Child:
    argv = [sys.executable, "-m", "streamlit", "run", str(ROOT / "ui" / "app.py"), "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none"]
    return Child("ui", argv, env, log_dir / "ui.log")


def wait_http(url: str, child: Child | None = None, timeout: float = 60.0, port: int | None = None) -> None:
    """Poll ``url`` until it answers 200 (with a deadline); fail early if the child died.

    With ``port``, the answer counts only once ``child`` itself listens on that port: a 200 from another
    process that holds the port (another run, another program) is never taken for this child's.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive:
            raise RuntimeError(f"{child.name} exited early:\n{child.log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200 and (
                    port is None or child is None or child.process is None or listens_on(child.process.pid, port)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling interval of a deadline-bounded wait
    raise TimeoutError(f"{url} did not answer within {timeout} s" + (f":\n{child.log_tail()}" if child else ""))
