"""One retrain of a model at a time (a lease row, on SQLite and PostgreSQL alike): a second concurrent request is
refused with 409 naming the running run, exactly one version row is written, and its artifact folder is placed
whole from a staging folder, never written over."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from reviewqueue.cli import app
from reviewqueue.db.tables import ModelVersion, TrainingRun
from reviewqueue.errors import Conflict
from reviewqueue.services import training
from reviewqueue.serving.sessions import sha256_file
from tests.integration.test_training import amount_rule, label_items, labels_only, tree

DEADLINE = 60.0


class HeldFit:
    """A fit that waits at a gate: the run holding the model's retrain stays in progress while the test probes."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.fitting: set[int] = set()  # the threads that reached the fit (a run fits once per fold, then whole)

    @property
    def entered(self) -> int:
        return len(self.fitting)

    def __call__(self, frame):  # type: ignore[no-untyped-def]
        self.fitting.add(threading.get_ident())
        self.gate.wait(DEADLINE)
        return tree(frame)


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def rows(ctx, model):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(model).order_by(model.id)).all()


def test_two_racing_retrains_write_one_version_and_the_loser_gets_a_conflict(ctx, people):
    label_items(ctx, people, 40, amount_rule)
    fit = HeldFit()
    spec = labels_only(ctx.registry.model("fraud"), train=fit)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def race(name: str) -> None:
        barrier.wait(DEADLINE)
        try:
            outcomes[name] = training.train_version(ctx, spec, trigger="manual")
        except Conflict as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=race, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    # the loser is refused before it fits anything; without the lock both would reach the fit
    wait_for(lambda: len(outcomes) == 1 or fit.entered == 2, "one racer refused, or both fitting")
    fit.gate.set()
    for t in threads:
        t.join(DEADLINE)
    refused = [o for o in outcomes.values() if isinstance(o, Conflict)]
    won = [o for o in outcomes.values() if isinstance(o, training.RunResult)]
    assert len(refused) == 1 and len(won) == 1, outcomes
    [winner] = won
    assert winner.error is None and winner.version == 2, winner
    assert refused[0].message == f"a retrain of fraud is already running (run {winner.run_id})"
    assert fit.entered == 1
    [run] = rows(ctx, TrainingRun)  # the loser left no run behind
    assert run.id == winner.run_id
    versions = rows(ctx, ModelVersion)
    assert [v.version for v in versions] == [1, 2]
    new = versions[1]
    artifact = Path(new.artifact_path)
    assert artifact.parent.name == "2" and sha256_file(artifact) == new.sha256
    folder = Path(ctx.settings.artifact_dir) / "fraud"
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2"], "no staging folder left behind"
    # the lease is released: the next retrain runs
    again = training.train_version(ctx, labels_only(ctx.registry.model("fraud")), trigger="manual")
    assert again.error is None and again.version == 3


def test_a_retrain_while_one_runs_is_409_over_http_and_one_line_from_the_cli(ctx, people, live_api, monkeypatch):
    label_items(ctx, people, 40, amount_rule)
    fit = HeldFit()
    spec = labels_only(ctx.registry.model("fraud"), train=fit)
    holder: dict[str, training.RunResult] = {}
    running = threading.Thread(target=lambda: holder.update(r=training.train_version(ctx, spec)))
    running.start()
    try:
        wait_for(lambda: fit.entered == 1, "the first retrain to be fitting")
        [run] = rows(ctx, TrainingRun)
        r = httpx.post(f"{live_api}/v1/models/fraud/retrain", timeout=DEADLINE,
                       headers={"Authorization": f"Bearer {people.data_scientist}"})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["message"] == f"a retrain of fraud is already running (run {run.id})"
        monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
        monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
        cli = CliRunner().invoke(app, ["retrain", "fraud"])
        assert cli.exit_code == 1, cli.output
        assert cli.stderr.strip().splitlines() == [f"error: a retrain of fraud is already running (run {run.id})"]
        assert "Traceback" not in cli.output
    finally:
        fit.gate.set()
        running.join(DEADLINE)
    assert holder["r"].version == 2 and holder["r"].error is None
    assert [v.version for v in rows(ctx, ModelVersion)] == [1, 2]
    assert len(rows(ctx, TrainingRun)) == 1, "the refused requests recorded no run"


def test_an_existing_version_folder_is_never_written_over(ctx, people):
    label_items(ctx, people, 40, amount_rule)
    stray = Path(ctx.settings.artifact_dir) / "fraud" / "2"
    stray.mkdir(parents=True)
    (stray / "model.onnx").write_bytes(b"somebody else's model")
    result = training.train_version(ctx, labels_only(ctx.registry.model("fraud")), trigger="manual")
    assert result.error and "already exists" in result.error, result
    assert (stray / "model.onnx").read_bytes() == b"somebody else's model"
    assert [v.version for v in rows(ctx, ModelVersion)] == [1]
    assert sorted(p.name for p in stray.parent.iterdir()) == ["1", "2"], "the staging folder is removed"

