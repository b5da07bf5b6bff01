"""A retrain started over HTTP answers at once (202) with its running run; the run's row carries the stage it is
in and the fraction done, written at every step, until it ends with its decision; one retrain per model (409)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from reviewqueue.api import create_app
from reviewqueue.client import Client
from reviewqueue.errors import Conflict, NotFound
from reviewqueue.registry import Registry
from reviewqueue.services import training
from reviewqueue.services.context import AppContext
from reviewqueue_dev.threaded_server import ThreadedServer
from tests.integration.test_retrain_lock import HeldFit, wait_for
from tests.integration.test_training import amount_rule, label_items, labels_only


def _held_context(ctx: AppContext, fit: HeldFit) -> AppContext:
    """The test's database behind a registry whose fraud model trains on its labels with ``fit``."""
    registry = Registry()
    registry.add_model(labels_only(ctx.registry.model("fraud"), train=fit))
    return AppContext(settings=ctx.settings, engine=ctx.engine, registry=registry.freeze())


def test_a_retrain_over_http_answers_at_once_and_its_run_shows_the_stage_it_is_in(ctx: Any, people: Any) -> None:
    label_items(ctx, people, 40, amount_rule)
    fit = HeldFit()
    with ThreadedServer(create_app(_held_context(ctx, fit))) as server, \
            Client(server.url, people.data_scientist) as scientist:
        started = scientist.retrain("fraud", wait=False)
        assert (started.status, started.stage, started.progress) == ("running", "starting", 0.0)
        try:
            wait_for(lambda: fit.entered == 1, "the retrain to be fitting")
            during = scientist.run("fraud", started.id)
            assert (during.status, during.stage, during.progress) == ("running", "training", 0.15)
            with pytest.raises(Conflict, match=f"already running \\(run {started.id}\\)"):
                scientist.retrain("fraud", wait=False)
        finally:
            fit.gate.set()
        wait_for(lambda: scientist.run("fraud", started.id).status != "running", "the run to end")
        done = scientist.run("fraud", started.id)
        assert (done.stage, done.progress, done.error) == ("done", 1.0, None)
        assert done.status in ("promoted", "rejected") and done.decision
        with pytest.raises(NotFound, match="no training run"):
            scientist.run("fraud", started.id + 1)
    [audit] = [r for r in _audit(ctx) if r.action == "model.retrain"]
    assert audit.actor == "data_scientist" and audit.target == "model:fraud"


def test_each_step_is_on_the_run_row_before_the_caller_hears_of_it(ctx: Any, people: Any) -> None:
    label_items(ctx, people, 40, amount_rule)
    spec = labels_only(ctx.registry.model("fraud"))
    started = training.start_run(ctx, spec, trigger="manual")
    seen: list[tuple[str, str, float | None]] = []

    def look(step: str, fraction: float) -> None:
        row = training.run_of_model(ctx, "fraud", started.run_id)
        seen.append((step, row.stage, row.progress))
        assert (row.stage, row.progress) == (step, fraction)

    result = training.continue_run(ctx, spec, started, progress=look)
    assert result.error is None
    steps = [step for step, _, _ in seen]
    folds = [f"evaluating: fold {i} of 5 done" for i in range(1, 6)]  # the out-of-fold fits, most of the time
    assert steps == ["loading data", "training", "evaluating", *folds, "exporting to ONNX", "storing version",
                     "done"]
    fractions = [progress for _, _, progress in seen]
    assert fractions == sorted(fractions), "progress never goes back"
    final = training.run_of_model(ctx, "fraud", started.run_id)
    assert (final.stage, final.progress) == ("done", 1.0)


def _audit(ctx: Any) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text("SELECT actor, action, target FROM audit_log ORDER BY id")))
