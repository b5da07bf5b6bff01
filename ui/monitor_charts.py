"""Altair charts of the Monitor page's model-quality tabs, from plain rows (no pandas). Axes are honest: PSI
starts at 0 with both thresholds drawn, shares start at 0, probabilities run from 0 to 1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

__all__ = ["WATCH_COLOUR", "ALERT_COLOUR", "psi_over_days", "reliability", "score_distribution"]

WATCH_COLOUR, ALERT_COLOUR = "#f58518", "#d62728"


def psi_over_days(rows: Sequence[dict[str, Any]], watch: float, alert: float) -> alt.LayerChart:
    """One line per input (and the score): PSI by day from 0, the watch and alert thresholds as dashed rules."""
    top = max([alert * 1.2, *(float(r["psi"]) for r in rows)])
    lines = (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title="day (UTC)", axis=alt.Axis(format="%b %d", tickCount="day")),
            y=alt.Y("psi:Q", title="PSI against training", scale=alt.Scale(domain=[0, top], nice=False)),
            color=alt.Color("feature:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=["feature:N", "day:T", alt.Tooltip("psi:Q", format=".3f"), "interval:N", "n:Q", "level:N"],
        )
    )
    thresholds = alt.Data(values=[{"threshold": "watch", "psi": watch}, {"threshold": "alert", "psi": alert}])
    rules = (
        alt.Chart(thresholds)
        .mark_rule(strokeDash=[6, 4])
        .encode(y="psi:Q", color=alt.Color("threshold:N", scale=alt.Scale(domain=["watch", "alert"],
                                                                           range=[WATCH_COLOUR, ALERT_COLOUR]),
                                           legend=None),
                tooltip=["threshold:N", alt.Tooltip("psi:Q", format=".2f")])
    )
    labels = (
        alt.Chart(thresholds)
        .mark_text(align="left", dx=4, dy=-6, fontSize=11)
        .encode(x=alt.value(0), y="psi:Q", text=alt.Text("threshold:N"),
                color=alt.Color("threshold:N", scale=alt.Scale(domain=["watch", "alert"],
                                                               range=[WATCH_COLOUR, ALERT_COLOUR]), legend=None))
    )
    chart: alt.LayerChart = alt.layer(lines, rules, labels).resolve_scale(color="independent").properties(height=280)
    return chart


def score_distribution(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """The score's bins (the reference's deciles): the reference's share beside the window's, from 0."""
    order = [r["bin"] for r in sorted(rows, key=lambda r: r["order"])]
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_bar()
        .encode(
            x=alt.X("bin:N", title="score bin (deciles of the reference scores)", sort=order,
                    axis=alt.Axis(labelAngle=-30)),
            xOffset=alt.XOffset("series:N", sort=["reference", "recent traffic"]),
            # from 0 (bars stay proportional); not to 100%: ten decile bins of ~10% would be flat lines
            y=alt.Y("share:Q", title="share of predictions", scale=alt.Scale(zero=True),
                    axis=alt.Axis(format=".0%")),
            color=alt.Color("series:N", sort=["reference", "recent traffic"],
                            scale=alt.Scale(range=["#9ecae9", "#4c78a8"]), legend=alt.Legend(orient="top", title=None)),
            tooltip=["bin:N", "series:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=260)
    )


def reliability(rows: Sequence[dict[str, Any]]) -> alt.LayerChart:
    """Reliability diagram: mean score against the observed positive share per bin, with Wilson 95% intervals,
    points sized by their labels, and the diagonal of perfect calibration; both axes 0–1."""
    unit = alt.Scale(domain=[0, 1])
    data = alt.Data(values=list(rows))
    diagonal = (
        alt.Chart(alt.Data(values=[{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]))
        .mark_line(color="#888888", strokeDash=[4, 4])
        .encode(x=alt.X("x:Q", scale=unit, title="mean score in the bin"),
                y=alt.Y("y:Q", scale=unit, title="observed positive share"))
    )
    bars = (
        alt.Chart(data)
        .mark_rule(color="#4c78a8")
        .encode(x=alt.X("mean_score:Q", scale=unit), y=alt.Y("observed_low:Q", scale=unit), y2="observed_high:Q")
    )
    points = (
        alt.Chart(data)
        .mark_circle(color="#4c78a8", opacity=0.9)
        .encode(
            x=alt.X("mean_score:Q", scale=unit),
            y=alt.Y("observed:Q", scale=unit),
            size=alt.Size("n:Q", title="labels", legend=alt.Legend(orient="top")),
            tooltip=["bin:N", alt.Tooltip("mean_score:Q", format=".3f"), alt.Tooltip("observed:Q", format=".1%"),
                     "interval:N", "n:Q"],
        )
    )
    return alt.LayerChart(layer=[diagonal, bars, points], height=320)
