"""README's "Register a model" walkthrough, run as written: the test reads the section's ```bash blocks from
README.md (so it breaks when the README drifts from what works) and runs them with bash in an empty folder —
a fresh SQLite database under var/, the real `reviewqueue` command, a real API on a free 127.0.0.1 port — then
checks the prediction the README's curl got back and the model version stored.

Two things differ from a person at a terminal, both said here: `make setup` is not re-run (this suite already
runs inside that .venv; the folder gets a `.venv` link so `source .venv/bin/activate` runs verbatim), and the
README's port 8010 becomes a free one. The README's own `kill $API_PID` stops the API; the test then checks the
port is free, and kills the script's process group (by its PID) if anything was left."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from reviewqueue_dev.processes import ROOT
from reviewqueue_dev.threaded_server import free_port

pytestmark = pytest.mark.embedded_only

SECTION = "## Register a model"
README_PORT = "8010"
SETUP_COMMANDS = ["make setup", "source .venv/bin/activate"]


def readme_blocks() -> list[str]:
    """The ```bash blocks of the README's "Register a model" section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    following = re.search(r"\n## ", text[start + 1:])
    section = text[start: start + 1 + following.start()] if following else text[start:]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def commands(block: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_readme_walkthrough_registers_a_model_and_answers_a_prediction(tmp_path: Path) -> None:
    setup, *walkthrough = readme_blocks()
    assert commands(setup) == SETUP_COMMANDS, "the README's first step is the environment; the test stands in for it"
    script = "\n".join(walkthrough)
    assert README_PORT in script and "kill $API_PID" in script, "the walkthrough starts the API and stops it"
    port = free_port()
    home = tmp_path / "clone"
    home.mkdir()
    (home / ".venv").symlink_to(ROOT / ".venv")
    (home / "walkthrough.sh").write_text(
        "set -euo pipefail\n" + "source .venv/bin/activate\n" + script.replace(README_PORT, str(port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQUEUE_")}  # only what the README sets
    process = subprocess.Popen(["bash", "walkthrough.sh"], cwd=home, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=240)  # ~20 s of CPU; a busy 2-core runner stretches it
    finally:
        with contextlib.suppress(ProcessLookupError):  # a group is left only if the script failed before its kill
            os.killpg(process.pid, signal.SIGTERM)
    assert process.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"

    [answer] = [json.loads(line) for line in out.splitlines() if line.startswith('{"model"')]
    [prediction] = answer["predictions"]
    assert answer["model"] == "loan"
    assert {k: prediction[k] for k in ("external_id", "route", "route_label", "model_version", "duplicate")} == {
        "external_id": "app-1001", "route": "auto_flag", "route_label": "auto: decline", "model_version": 1,
        "duplicate": False}
    assert 0.7 <= prediction["score"] <= 1.0 and isinstance(prediction["prediction_id"], int)
    assert "loan" in out and "champion" in out  # `reviewqueue models list`

    with sqlite3.connect(home / "var" / "reviewqueue.db") as db:
        versions = db.execute("SELECT id, model_name, version, status FROM model_versions").fetchall()
        stored = db.execute("SELECT external_id, version_id, route FROM predictions").fetchall()
    [(version_id, name, number, status)] = versions
    assert (name, number, status) == ("loan", 1, "champion")
    assert stored == [("app-1001", version_id, "auto_flag")]  # the prediction records the version that made it
    assert (home / "var" / "artifacts" / "loan" / "1" / "model.onnx").is_file()
    assert port_is_free(port), "the README's `kill $API_PID` stops the API"
