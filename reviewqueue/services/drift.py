"""Daily drift of a model's inputs and score against its champion's training reference, and the alert.

Each UTC day's predictions by the champion (at most ``drift_rows_per_day`` of them, oldest first) are binned
like the reference (services/reference.py) and compared with domain.drift.psi. Each figure carries its sample
size, a 95% bootstrap interval (the day's bin counts resampled multinomially, 200 times, seed 0) and the PSI
sampling alone would give (domain.drift.noise_floor).

The alert (``alert_drift``, the worker's daily job and ``reviewqueue monitor drift --alert``): for yesterday
and today so far, every input (and the score) whose PSI reaches ``drift_alert_psi`` on at least
``drift_min_sample`` predictions queues one Slack message (an outbox action, delivered and retried like an SLA
page) and a ``drift_alerts`` row in the same commit; the row is unique per model, input and day, so a rerun,
or two schedulers, never alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from reviewqueue.db import monitoring as queries
from reviewqueue.db import outbox
from reviewqueue.db import versions as version_queries
from reviewqueue.db.monitoring import ScoredRow, SentAlert
from reviewqueue.db.tables import new_id
from reviewqueue.domain.drift import bin_counts, category_counts, drift_level, noise_floor, proportions, psi
from reviewqueue.errors import ValidationFailed
from reviewqueue.schemas import DistributionBin, DriftDay, DriftReport, FeatureDrift
from reviewqueue.services.context import AppContext
from reviewqueue.services.reference import feature_value

__all__ = ["ALERT_TEXT", "MAX_DAYS", "alert_drift", "drift_report"]

log = logging.getLogger(__name__)
MAX_DAYS = 90
BOOTSTRAP_REPS = 200
SCORE = "score"
ALERT_TEXT = ("Drift alert: {model} v{version} — {feature} PSI {psi:.2f} (95% CI {psi_low:.2f}–{psi_high:.2f}) "
              "on {day}, {n} predictions, against its training data (alert at {threshold:g}). "
              "<{ui_base_url}/monitor|Open the Monitor page>")


@dataclass(frozen=True)
class _Window:
    """The champion and its reference, and the days to compare (oldest first)."""

    version_id: int
    version: int
    reference: dict[str, Any]
    days: list[date]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _counts(entry: dict[str, Any], values: Sequence[Any]) -> list[int]:
    if entry["kind"] == "category":
        return category_counts(entry["categories"], values)
    return bin_counts(entry["edges"], [float(v) for v in values if v is not None])


def _interval(expected: list[float], counts: list[int], seed: int) -> tuple[float, float]:
    """95% percentile bootstrap of the PSI: the day's counts resampled from their own shares."""
    import numpy as np

    n = sum(counts)
    draws = np.random.default_rng(seed).multinomial(n, np.asarray(counts, dtype=float) / n, size=BOOTSTRAP_REPS)
    values = sorted(psi(expected, (row / n).tolist()) for row in draws)
    return values[int(0.025 * (BOOTSTRAP_REPS - 1))], values[int(round(0.975 * (BOOTSTRAP_REPS - 1)))]


def _day_figure(ctx: AppContext, entry: dict[str, Any], values: Sequence[Any], day: date, total: int) -> DriftDay:
    s = ctx.settings
    counts = _counts(entry, values)
    n = sum(counts)
    if n == 0:
        return DriftDay(day=day, n=0, total=total, psi=None, psi_low=None, psi_high=None, noise=None,
                        level="no data")
    expected = list(entry["proportions"])
    value = psi(expected, proportions(counts))
    low, high = _interval(expected, counts, seed=day.toordinal())
    return DriftDay(day=day, n=n, total=total, psi=value, psi_low=low, psi_high=high,
                    noise=noise_floor(len(counts), n),
                    level=drift_level(value, n, watch=s.drift_watch_psi, alert=s.drift_alert_psi,
                                      min_sample=s.drift_min_sample))


def _entries(reference: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The score first, then each input, as (name, reference entry)."""
    return [(SCORE, reference["score"]), *reference["features"].items()]


def _values(name: str, entry: dict[str, Any], rows: Sequence[ScoredRow]) -> list[Any]:
    if name == SCORE:
        return [r.score for r in rows]
    return [feature_value(entry, r.features) for r in rows]


def _window(ctx: AppContext, model_name: str, days: list[date]) -> tuple[_Window | None, int | None]:
    """The champion with its reference; (None, its version) when it has none; (None, None) without a champion."""
    with ctx.read() as conn:
        champion = version_queries.find_champion(conn, model_name)
        if champion is None:
            return None, None
        reference = queries.version_reference(conn, champion.id)
    if reference is None or not reference["rows"]:
        return None, champion.version
    return _Window(champion.id, champion.version, reference, days), champion.version


def _daily(ctx: AppContext, window: _Window) -> tuple[dict[str, list[DriftDay]], list[ScoredRow]]:
    """Per entry name, one DriftDay per day of the window; and every row compared (for the score histogram)."""
    figures: dict[str, list[DriftDay]] = {name: [] for name, _ in _entries(window.reference)}
    pooled: list[ScoredRow] = []
    for day in window.days:
        start, end = _day_bounds(day)
        with ctx.read() as conn:
            rows = queries.traffic(conn, window.version_id, start, end, ctx.settings.drift_rows_per_day)
            total = queries.count_traffic(conn, window.version_id, start, end) if rows else 0
        pooled.extend(rows)
        for name, entry in _entries(window.reference):
            figures[name].append(_day_figure(ctx, entry, _values(name, entry, rows), day, total))
    return figures, pooled


def _score_bins(entry: dict[str, Any], rows: Sequence[ScoredRow]) -> list[DistributionBin]:
    edges = entry["edges"]
    current = proportions(bin_counts(edges, [r.score for r in rows]))
    bounds = [0.0, *edges, 1.0]
    return [DistributionBin(bin=f"{bounds[i]:.3g}–{bounds[i + 1]:.3g}", order=i, reference=ref, current=cur)
            for i, (ref, cur) in enumerate(zip(entry["proportions"], current, strict=True))]


def drift_report(ctx: AppContext, model_name: str, days: int) -> DriftReport:
    """The last ``days`` UTC days (today included) of drift for a model's champion (module docstring)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}", field="days")
    ctx.registry.model(model_name)  # unknown model → 404
    today = ctx.now().astimezone(UTC).date()
    wanted = [today - timedelta(days=d) for d in range(days - 1, -1, -1)]
    window, version = _window(ctx, model_name, wanted)
    if window is None and version is not None:
        with ctx.read() as conn:
            champion = version_queries.find_champion(conn, model_name)
            empty = champion is not None and queries.version_reference(conn, champion.id) is not None
    s = ctx.settings
    common: dict[str, Any] = {"model": model_name, "version": version, "days": days, "watch": s.drift_watch_psi,
                              "alert": s.drift_alert_psi, "min_sample": s.drift_min_sample}
    if window is None:
        note = (f"{model_name} has no champion yet." if version is None else
                f"v{version} was trained on no data (a zero-shot head): there is nothing to compare its traffic "
                "with until a retrain on labels." if empty else
                f"v{version} has no training reference: it was trained before drift monitoring existed. "
                "Retrain to get one.")
        return DriftReport(has_reference=False, note=note, reference_rows=0, features=[], score_bins=[],
                           window_n=0, **common)
    figures, pooled = _daily(ctx, window)
    with ctx.read() as conn:
        alerted = queries.recent_alerts(conn, model_name, wanted[0])
    features = []
    for name, entry in _entries(window.reference):
        with_data = [d for d in figures[name] if d.n]
        features.append(FeatureDrift(feature=name, kind=entry["kind"], days=figures[name],
                                     latest=with_data[-1] if with_data else None,
                                     alerted=[a.day for a in alerted if a.feature == name]))
    note = (f"v{window.version}'s traffic per UTC day against its training data ({window.reference['rows']} "
            f"rows); the score against its scores on {window.reference['score']['on']}.")
    return DriftReport(has_reference=True, note=note, reference_rows=int(window.reference["rows"]),
                       features=features, score_bins=_score_bins(window.reference["score"], pooled),
                       window_n=len(pooled), **common)


def alert_drift(ctx: AppContext, day: date | None = None) -> list[SentAlert]:
    """Queue one Slack alert per model, input and day past the alert threshold (module docstring); returns the
    alerts queued now (none for those already sent). ``day``: check that day only, else yesterday and today."""
    today = ctx.now().astimezone(UTC).date()
    days = [day] if day is not None else [today - timedelta(days=1), today]
    sent: list[SentAlert] = []
    for spec in ctx.registry.models():
        window, _ = _window(ctx, spec.name, days)
        if window is None:
            continue
        figures, _ = _daily(ctx, window)
        for name, per_day in figures.items():
            for figure in per_day:
                if figure.level == "alert" and (alert := _send(ctx, spec.name, window.version, name, figure)):
                    sent.append(alert)
    if sent:
        log.warning("drift alerts queued", extra={"action": "drift_alerted", "count": len(sent)})
    return sent


def _send(ctx: AppContext, model_name: str, version: int, feature: str, figure: DriftDay) -> SentAlert | None:
    """Record the alert and queue its Slack message in one commit; None when this input already alerted that day."""
    assert figure.psi is not None and figure.psi_low is not None and figure.psi_high is not None
    now = ctx.now()
    alert = SentAlert(model_name, version, feature, figure.day, figure.psi, figure.psi_low, figure.psi_high,
                      figure.n, now)
    payload = {"model": model_name, "version": version, "feature": feature, "day": figure.day.isoformat(),
               "psi": figure.psi, "psi_low": figure.psi_low, "psi_high": figure.psi_high, "n": figure.n,
               "threshold": ctx.settings.drift_alert_psi, "external_id": "", "prediction_id": None,
               "item_id": None, "decision_id": None, "verdict": "drift_alert", "score": None, "source": "drift",
               "actor": "scheduler", "features": {}, "context": {}}
    action = {"id": new_id(), "decision_id": None, "connector": "slack_message",
              "params": {"channel": ctx.settings.drift_alert_channel, "text": ALERT_TEXT}, "payload": payload,
              "status": "pending", "attempts": 0, "outcome_unknown": False, "next_attempt_at": now,
              "created_at": now}
    try:
        with ctx.engine.begin() as conn:
            if queries.alert_sent(conn, model_name, feature, figure.day):
                return None
            queries.insert_alert(conn, alert)
            outbox.insert_actions(conn, [action])
    except IntegrityError:  # another scheduler recorded it a moment before: its alert is the one
        return None
    return alert
