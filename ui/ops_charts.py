"""Altair charts of the Monitor page's operations tabs (ui/monitor_ops.py), from plain rows.

Honest axes: every count and age axis starts at 0, thresholds span the whole 0..1 range, so a small change looks
small."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

__all__ = ["queue_age", "queue_depth_over_time", "reviewer_throughput", "volume_curve"]

BAND = "#f58518"


def volume_curve(rows: Sequence[dict[str, Any]], review_low: float, review_high: float) -> alt.LayerChart:
    """Predictions per day scoring at or above each threshold (0..1), the candidate review band shaded: what lies
    between the two rules is the daily review volume, what lies right of review_high is auto-flagged."""
    base = alt.Chart(alt.Data(values=list(rows)))
    line = base.mark_line().encode(
        x=alt.X("threshold:Q", title="threshold (score)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("at_or_above_per_day:Q", title="predictions per day scoring at or above",
                scale=alt.Scale(zero=True)),
        tooltip=[alt.Tooltip("threshold:Q", format=".2f"), alt.Tooltip("at_or_above_per_day:Q", format=",.1f")],
    )
    band = alt.Chart(alt.Data(values=[{"low": review_low, "high": review_high}])).mark_rect(
        opacity=0.15, color=BAND).encode(x="low:Q", x2="high:Q")
    rules = alt.Chart(alt.Data(values=[{"at": review_low, "which": "review_low"},
                                       {"at": review_high, "which": "review_high"}])).mark_rule(
        color=BAND, strokeDash=[4, 3]).encode(x="at:Q", tooltip=["which:N", alt.Tooltip("at:Q", format=".2f")])
    return alt.LayerChart(layer=[band, line, rules], height=260)


def reviewer_throughput(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Decisions per day per reviewer, horizontal bars from 0."""
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_bar()
        .encode(
            x=alt.X("decisions/day:Q", title="decisions per day", scale=alt.Scale(zero=True)),
            y=alt.Y("reviewer:N", title=None, sort="-x", axis=alt.Axis(labelLimit=200)),
            tooltip=["reviewer:N", alt.Tooltip("decisions/day:Q", format=".1f"), "decisions:Q"],
        )
        .properties(height=alt.Step(28))
    )


def _over_time(rows: Sequence[dict[str, Any]], field: str, title: str) -> alt.Chart:
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=len(rows) <= 60)
        .encode(
            x=alt.X("at:T", title=None),
            y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(zero=True), axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("queue:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=["queue:N", alt.Tooltip("at:T", format="%Y-%m-%d %H:%M"), alt.Tooltip(f"{field}:Q")],
        )
        .properties(height=240)
    )


def queue_depth_over_time(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Open items (waiting or held) per queue over time, from 0."""
    return _over_time(rows, "open items", "open items (waiting or held)")


def queue_age(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Age of each queue's oldest open item (hours) over time, from 0."""
    return _over_time(rows, "oldest (hours)", "oldest open item's age (hours)")
