"""The Models page over the live API: the schedule in words, the gate in a sentence, the AUC-by-version chart on
a 0..1 axis, and a retrain whose progress bar follows the run's stage until its decision is explained."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from reviewqueue.api import create_app
from reviewqueue.db.leases import acquire_lease
from reviewqueue.registry import Registry
from reviewqueue.services.context import AppContext
from reviewqueue_dev.threaded_server import ThreadedServer
from tests.integration.test_retrain_lock import HeldFit, wait_for
from tests.integration.test_training import amount_rule, label_items, labels_only
from tests.ui.helpers import APP, rows, sign_in, texts
from ui import format as fmt


def _progress(at: AppTest) -> list[tuple[float, str]]:
    return [(e.proto.value / 100, e.proto.text) for e in at.get("progress")]


def test_schedule_in_words_the_gate_and_an_auc_axis_from_0_to_1(app: AppTest, people: Any) -> None:
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    schedule = "##### " + fmt.md("every day at 03:00 UTC")  # a heading, not a metric: it wraps when long
    assert schedule in [m.value for m in at.markdown]
    assert metrics["Champion"] == "v1" and metrics["Champion AUC"] != "—"
    page = texts(at)
    assert "cron 0 3 * * * (APScheduler, UTC)" in page
    assert "promotes a candidate only when it is better" in page, "fraud's gate: better with 90% confidence"
    assert "its tolerance 0.01 applies only with require_improvement=False" in page
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    [by_version] = [s for s in specs if s.get("encoding", {}).get("y", {}).get("field") == "roc_auc"]
    assert by_version["encoding"]["y"]["scale"]["domain"] == [0, 1]


@pytest.fixture
def held(ctx: AppContext, people: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AppTest, HeldFit]]:
    """The app over an API whose fraud model trains on its labels with a fit that waits at a gate."""
    label_items(ctx, people, 40, amount_rule)
    fit = HeldFit()
    registry = Registry()
    registry.add_model(labels_only(ctx.registry.model("fraud"), train=fit))
    held_ctx = AppContext(settings=ctx.settings, engine=ctx.engine, registry=registry.freeze())
    with ThreadedServer(create_app(held_ctx)) as server:
        monkeypatch.setenv("REVIEWQUEUE_API_URL", server.url)
        try:
            yield AppTest.from_file(APP, default_timeout=30), fit
        finally:
            fit.gate.set()


def test_retrain_now_shows_the_run_s_stage_then_explains_its_decision(held: tuple[AppTest, HeldFit],
                                                                      ctx: Any) -> None:
    at, fit = held
    at = sign_in(at, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    at.button(key="retrain-fraud").click().run()
    assert not at.exception
    [run] = rows(ctx, "SELECT id, status FROM training_runs")
    assert run.status == "running"
    wait_for(lambda: fit.entered == 1, "the run to be training")
    at.run()  # the fragment's next poll
    assert (0.15, f"Run {run.id}: training — 15%") in _progress(at)
    assert at.button(key="retrain-fraud").disabled, "one retrain at a time from this page"

    fit.gate.set()
    wait_for(lambda: rows(ctx, "SELECT status FROM training_runs")[0].status != "running", "the run to end")
    at.run()
    assert not at.exception
    assert not [p for p in _progress(at) if p[1].startswith("Run ")], "the bar is gone once the run ended"
    [finished] = rows(ctx, "SELECT status, decision FROM training_runs")
    page = texts(at)
    assert f"Run {run.id}: On the same" in page and "The gate's test: the lower end" in page
    assert f"Decision: {finished.decision}" in page


def test_a_run_started_elsewhere_is_followed_and_a_stale_one_is_flagged(app: AppTest, ctx: Any, people: Any) -> None:
    """A run the scheduler or the CLI started shows its bar too; one "running" for hours says its process may
    have stopped. (It still holds the model's retrain lease, renewed by its steps: one whose lease lapsed is
    shown failed, abandoned — tests/integration/test_abandoned_runs.py.)"""
    with ctx.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO training_runs (model_name, trigger, status, label_ids, n_labels, max_label_id, "
            "champion_metrics, candidate_metrics, decision, warnings, started_at, stage, progress) VALUES "
            "('fraud', 'cron', 'running', '[]', 0, 0, '{}', '{}', '', '[]', :at, 'evaluating', 0.45)"),
            {"at": datetime.now(UTC) - timedelta(hours=2)})
        [started] = conn.execute(text("SELECT id FROM training_runs")).scalars().all()
        assert acquire_lease(conn, "retrain:fraud", f"run {started}", datetime.now(UTC), 600)
    at = sign_in(app, "data_scientist", "data_scientist-pw")
    at.switch_page("views/models.py").run()
    assert not at.exception
    [run] = rows(ctx, "SELECT id FROM training_runs")
    assert (0.45, f"Run {run.id}: evaluating — 45%") in _progress(at)
    assert any(f"Run {run.id} started" in w.value and "has not finished" in w.value for w in at.warning)
