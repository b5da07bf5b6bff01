"""A retrain whose process stopped (the API killed mid-run, the host lost) does not stay "running" forever: once
its retrain lease lapses, the runs list and the run's own page show it failed, abandoned, with what to do; the
next retrain of the model ends it the same way. A live run (its lease renewed by its own steps) is never touched."""

from __future__ import annotations

from datetime import timedelta

from reviewqueue.db import leases as lease_queries
from reviewqueue.db import runs as run_queries
from reviewqueue.services import training
from tests.integration.test_training import labels_only


def started_run(ctx, *, lease_seconds: int | None) -> int:
    """A run row as start_run writes it; its lease held for ``lease_seconds`` (None: never taken, as after the
    lease lapsed and was cleared)."""
    with ctx.engine.begin() as conn:
        run_id = run_queries.insert_run(conn, model_name="fraud", trigger="manual", label_ids=[], max_label_id=0,
                                        champion_version_id=None, started_at=ctx.now() - timedelta(hours=1))
        if lease_seconds is not None:
            assert lease_queries.acquire_lease(conn, "retrain:fraud", f"run {run_id}", ctx.now(), lease_seconds)
    return run_id


def test_a_run_whose_lease_lapsed_shows_failed_abandoned(ctx):
    dead = started_run(ctx, lease_seconds=None)
    [listed] = training.list_runs(ctx, "fraud")
    assert (listed.id, listed.status, listed.stage) == (dead, "failed", "failed")
    assert listed.error.startswith("abandoned:") and "start the retrain again" in listed.error
    assert listed.finished_at is not None


def test_a_run_seen_on_its_own_page_is_swept_as_well(ctx):
    dead = started_run(ctx, lease_seconds=None)
    run = training.run_of_model(ctx, "fraud", dead)
    assert (run.status, run.error.split(":")[0]) == ("failed", "abandoned")


def test_a_live_run_holding_its_lease_stays_running(ctx):
    live = started_run(ctx, lease_seconds=600)
    assert [(r.id, r.status) for r in training.list_runs(ctx, "fraud")] == [(live, "running")]
    assert training.run_of_model(ctx, "fraud", live).status == "running"


def test_the_next_retrain_ends_an_abandoned_run(ctx):
    dead = started_run(ctx, lease_seconds=None)
    started = training.start_run(ctx, labels_only(ctx.registry.model("fraud")))
    with ctx.engine.connect() as conn:
        old, new = run_queries.get_run(conn, dead), run_queries.get_run(conn, started.run_id)
    assert (old.status, new.status) == ("failed", "running")
    assert old.error.startswith("abandoned:")
