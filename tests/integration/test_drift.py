"""Drift (issue 11, point 6): the training reference stored with a version, the daily PSI over HTTP rising past
the alert threshold on shifted traffic, and the Slack alert, received once, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from connectors.slack_message import SlackMessageConnector
from models.fraud import synthetic_transactions
from reviewqueue.client import Client
from reviewqueue.services import drift, outbox
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings
from reviewqueue_dev.sandbox import Sink, wait_until
from tests.clock import FakeClock

DAY_ONE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
N = 300  # per day: above drift_min_sample (200), noise PSI ≈ 9/300 = 0.03


def events(prefix: str, seed: int, shift: Callable[[dict[str, Any]], dict[str, Any]] = lambda f: f
           ) -> list[dict[str, Any]]:
    frame = synthetic_transactions(N, seed=seed)
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        features = {"amount": float(row.amount), "merchant_category": str(row.merchant_category),
                    "country_mismatch": bool(row.country_mismatch), "account_age_days": int(row.account_age_days),
                    "card_present": bool(row.card_present), "hour": int(row.hour), "velocity_1h": int(row.velocity_1h)}
        out.append({"external_id": f"{prefix}-{i}", "features": shift(features),
                    "context": {"charge_id": f"ch_{prefix}_{i}", "user_id": f"u_{prefix}_{i}", "currency": "usd"}})
    return out


def big_spenders(features: dict[str, Any]) -> dict[str, Any]:
    """Amounts thirty times larger; every other input as trained."""
    return {**features, "amount": round(features["amount"] * 30, 2)}


@pytest.fixture
def two_days(ctx: AppContext, live_api: str, people: Any) -> FakeClock:
    """Day one: traffic like the training data; day two: the same shape with amounts ×30."""
    clock = FakeClock(DAY_ONE)
    ctx.clock = clock
    with Client(live_api, people.integration) as business:
        business.predict("fraud", events("d1", seed=11))
        clock.advance(24 * 3600)
        business.predict("fraud", events("d2", seed=12, shift=big_spenders))
    return clock


def test_training_stores_the_reference_with_the_version(ctx: AppContext, trained_fraud: dict[str, Any]) -> None:
    reference = trained_fraud["reference"]
    assert reference["rows"] == 16_000  # the base dataset's training split (no production labels yet)
    amount = reference["features"]["amount"]
    assert amount["kind"] == "numeric" and len(amount["edges"]) == 9
    assert sum(amount["proportions"]) == pytest.approx(1.0)
    assert max(amount["proportions"]) < 0.11  # deciles of the training amounts
    category = reference["features"]["merchant_category"]
    assert category["categories"][:2] == ["grocery", "electronics"] and len(category["proportions"]) == 8
    assert category["proportions"][0] == pytest.approx(0.3, abs=0.02) and category["proportions"][-1] == 0.0
    assert reference["features"]["card_present"]["categories"] == ["false", "true"]
    assert reference["score"]["on"] == "the base dataset's held-out rows (4000)"
    with ctx.engine.connect() as conn:
        stored = conn.execute(text("SELECT reference FROM model_versions WHERE model_name = 'fraud'")).scalar_one()
    assert stored is not None


def test_drift_rises_past_the_alert_threshold_on_shifted_traffic(two_days: FakeClock, as_: Any) -> None:
    response = as_("data_scientist").get("/v1/models/fraud/drift", params={"days": 3})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["version"], report["has_reference"], report["watch"], report["alert"]) == (1, True, 0.1, 0.25)
    by_name = {f["feature"]: f for f in report["features"]}
    assert list(by_name)[0] == "score"
    empty, one, two = by_name["amount"]["days"]
    assert (empty["n"], empty["psi"], empty["level"]) == (0, None, "no data")
    assert (one["n"], one["total"], two["n"]) == (N, N, N)
    assert one["psi"] < 0.1 and one["level"] == "stable"
    assert two["psi"] > 1.0 and two["level"] == "alert"
    assert two["psi_low"] <= two["psi"] <= two["psi_high"] and two["psi_low"] > 0.25
    assert one["noise"] == pytest.approx(9 / N)
    # inputs that did not move stay stable on both days; the score moved with the amounts
    assert all(d["level"] == "stable" for d in by_name["hour"]["days"][1:] + by_name["card_present"]["days"][1:])
    assert by_name["score"]["days"][2]["psi"] > by_name["score"]["days"][1]["psi"]
    assert by_name["amount"]["latest"]["day"] == two["day"]
    assert sum(b["reference"] for b in report["score_bins"]) == pytest.approx(1.0)
    assert sum(b["current"] for b in report["score_bins"]) == pytest.approx(1.0) and report["window_n"] == 2 * N


def test_drift_refuses_bad_input_and_other_roles(ctx: AppContext, as_: Any) -> None:
    too_many = as_("admin").get("/v1/models/fraud/drift", params={"days": 91})
    assert too_many.status_code == 422 and "days" in too_many.text
    assert as_("admin").get("/v1/models/nope/drift").status_code == 404
    assert as_("reviewer").get("/v1/models/fraud/drift").status_code == 403


def test_a_version_without_reference_says_so(ctx: AppContext, as_: Any) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE model_versions SET reference = NULL"))
    report = as_("admin").get("/v1/models/fraud/drift").json()
    assert report["has_reference"] is False and report["features"] == []
    assert "v1 has no training reference" in report["note"]


def test_the_alert_reaches_slack_once_per_input_and_day(ctx: AppContext, two_days: FakeClock, sink: Sink) -> None:
    sent = drift.alert_drift(ctx)
    assert {a.feature for a in sent} >= {"amount"} and "hour" not in {a.feature for a in sent}
    day_two = (DAY_ONE + timedelta(days=1)).date()
    assert {a.day for a in sent} == {day_two}
    assert drift.alert_drift(ctx) == [], "a rerun the same day alerts nothing again"
    slack = SlackMessageConnector(Settings(environment="test", ui_base_url="http://ui.test", **sink.settings_fields()))
    dispatcher = outbox.Dispatcher(ctx, {"slack_message": slack}, "drift-test")

    def alerts() -> list[dict[str, Any]]:  # the day's auto-flagged transactions post to #fraud-alerts too
        return [m for m in sink.slack_messages if m["channel"] == "#model-monitoring"]

    try:
        wait_until(lambda: dispatcher.run_once() == 0 and len(alerts()) >= len(sent), timeout=15)
    finally:
        dispatcher.close()
        slack.close()
    assert len(alerts()) == len(sent)
    [message] = [m for m in alerts() if " amount PSI " in m["text"]]
    amount = next(a for a in sent if a.feature == "amount")
    assert message["channel"] == "#model-monitoring"
    assert f"fraud v1 — amount PSI {amount.psi:.2f}" in message["text"]
    assert f"on {day_two.isoformat()}, {N} predictions" in message["text"]
    assert "<http://ui.test/monitor|Open the Monitor page>" in message["text"]
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT feature, n FROM drift_alerts WHERE feature = 'amount'")).all()
    assert [tuple(r) for r in rows] == [("amount", N)]


def test_the_worker_runs_the_daily_check_on_its_schedule(ctx: AppContext, two_days: FakeClock) -> None:
    from reviewqueue.worker import Worker

    worker = Worker(ctx, {}, scheduler=False)
    worker.start_scheduler()
    try:
        assert worker.scheduler is not None
        job = worker.scheduler.get_job("drift-alerts")
        assert str(job.trigger.fields[job.trigger.FIELD_NAMES.index("hour")]) == "6"  # drift_alert_cron "15 6 * * *"
        # the job runs on the leader only; the scheduler's own lease job races for it at start
        wait_until(lambda: worker.leadership.is_leader or worker.leadership.renew(), timeout=10)
        job.func()
    finally:
        worker.scheduler.shutdown(wait=False)
        worker.dispatcher.close()
    assert "amount" in _alerted(ctx)


def test_the_cli_checks_a_given_day_once(ctx: AppContext, two_days: FakeClock, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    from typer.testing import CliRunner

    from reviewqueue.cli import app

    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    day = (DAY_ONE + timedelta(days=1)).date().isoformat()
    first = CliRunner().invoke(app, ["monitor", "drift", "--alert", "--day", day])
    assert first.exit_code == 0, first.output
    assert "fraud v1 amount: PSI" in first.output and f"on {day}, n={N}" in first.output
    assert "#model-monitoring" in first.output
    again = CliRunner().invoke(app, ["monitor", "drift", "--alert", "--day", day])
    assert again.exit_code == 0 and "0 drift alert(s) queued" in again.output
    refused = CliRunner().invoke(app, ["monitor", "drift", "--alert", "--day", "21/11/2026"])
    assert refused.exit_code == 2 and "YYYY-MM-DD" in refused.output
    table = CliRunner().invoke(app, ["monitor", "drift", "fraud", "--days", "2"])
    assert table.exit_code == 0 and "against its training data (16000 rows)" in table.output


def _alerted(ctx: AppContext) -> list[str]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text("SELECT feature FROM drift_alerts ORDER BY feature")).scalars())


def test_a_zero_shot_text_version_without_data_says_it_has_nothing_to_compare(
        text_ctx: AppContext, trained_self_harm: dict[str, Any]) -> None:
    assert trained_self_harm["reference"] == {"schema": 1, "rows": 0, "features": {}, "score": None}
    report = drift.drift_report(text_ctx, "self_harm", 7)
    assert report.has_reference is False and "trained on no data (a zero-shot head)" in report.note
    assert drift.alert_drift(text_ctx) == []


def test_a_text_input_is_binned_by_its_length() -> None:
    from reviewqueue.features import FeatureSchema, Text
    from reviewqueue.services.reference import feature_value, input_entry, numeric_entry

    [feature] = FeatureSchema.declare({"note": Text()}).features
    name, entry = input_entry(feature, ["short", "a little longer", "x" * 40, "y" * 400])
    assert name == "note (length)" and entry == numeric_entry([5.0, 15.0, 40.0, 400.0], "note", "length")
    assert feature_value(entry, {"note": "abc"}) == 3.0
