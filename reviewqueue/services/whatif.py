"""The threshold what-if's figures for one model: recent champion traffic and its labels through domain.whatif.

Read-only, in the caller's connection; the formulas (volumes, 1/π-weighted recall and precision, intervals) are in
``domain.whatif``'s docstring. Used by the what-if endpoint and recorded as a routing-policy version's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from reviewqueue.db import operations as ops
from reviewqueue.db.versions import Champion
from reviewqueue.domain import whatif
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import ProportionOut, ThresholdPoint

__all__ = ["Figures", "MAX_DAYS", "MIN_OBSERVED", "evidence", "figures", "proportion_out"]

MAX_DAYS = 90
# a champion a few minutes old is not extrapolated to a day from minutes: volumes are per day of at least this
MIN_OBSERVED = timedelta(hours=1)


@dataclass(frozen=True)
class Figures:
    result: whatif.WhatIf
    days: int
    observed_days: float
    predictions: int
    labelled: int
    curve: list[ThresholdPoint]


def figures(conn: Connection, spec: ModelSpec, champion: Champion, review_low: float, review_high: float,
            audit_fraction: float, days: int, now: datetime) -> Figures:
    """What ``review_low``/``review_high`` would have done to the champion's last ``days`` days of traffic."""
    since = now - timedelta(days=days)
    counts, oldest = ops.score_histogram(conn, spec.name, champion.id, since, whatif.BINS)
    histogram = [0] * whatif.BINS
    for b, n in counts.items():
        histogram[min(max(b, 0), whatif.BINS - 1)] += n
    observed = max(now - oldest, MIN_OBSERVED) if oldest is not None else timedelta(days=days)
    observed_days = min(observed, timedelta(days=days)).total_seconds() / 86_400
    best = best_label_per_prediction(ops.labelled_scores(conn, spec.name, champion.id, since))
    labelled = [whatif.Labelled(r.score, r.value == spec.positive_verdict, r.selection_probability)
                for r in best.values()]
    result = whatif.what_if(histogram, observed_days, labelled, review_low, review_high, audit_fraction)
    return Figures(result, days, observed_days, sum(histogram), len(labelled), _curve(histogram, observed_days))


def _curve(histogram: list[int], days: float) -> list[ThresholdPoint]:
    """Predictions per day at or above each threshold 0.00 … 1.00 (the auto-flag volume if review_high were it)."""
    step = whatif.BINS // 100
    above = [0] * (whatif.BINS + 1)
    for b in range(whatif.BINS - 1, -1, -1):
        above[b] = above[b + 1] + histogram[b]
    return [ThresholdPoint(threshold=k / 100, at_or_above_per_day=above[k * step] / days if days else 0.0)
            for k in range(101)]


def proportion_out(p: whatif.Proportion) -> ProportionOut:
    return ProportionOut(value=p.value, low=p.low, high=p.high, n=p.n, n_effective=p.n_effective)


def evidence(f: Figures) -> dict[str, Any]:
    """The figures a policy version is applied on, as stored with it (JSON)."""
    r = f.result
    return {"days": f.days, "observed_days": round(f.observed_days, 4), "predictions": f.predictions,
            "labelled": f.labelled, "auto_flag_per_day": r.volumes.auto_flag, "review_per_day": r.volumes.review,
            "auto_pass_per_day": r.volumes.auto_pass, "audits_per_day": r.volumes.audits,
            "recall": proportion_out(r.recall).model_dump(), "precision": proportion_out(r.precision).model_dump(),
            "missed": proportion_out(r.missed).model_dump()}
