"""Altair charts built from the plain rows ui.format produces (no pandas needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

RAISES, LOWERS = "#d62728", "#1f77b4"


def queue_depth(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Horizontal stacked bars: pending and claimed items per queue."""
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_bar()
        .encode(
            y=alt.Y("queue:N", title=None, axis=alt.Axis(labelLimit=200)),
            x=alt.X("items:Q", title="items", stack="zero", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("state:N", scale=alt.Scale(domain=["pending", "claimed"],
                                                       range=["#4c78a8", "#f58518"])),
            tooltip=["queue:N", "state:N", "items:Q"],
        )
        .properties(height=alt.Step(36))
    )


TABULAR_EFFECT = ("effect on the score, compared with a typical value", "+.0%", "+.1%")
WORD_EFFECT = ("effect on the score's log-odds, compared with leaving the word out", "+.2f", "+.2f")


def explanation(rows: Sequence[dict[str, Any]], words: bool = False) -> alt.Chart:
    """Horizontal bars, heaviest on top; red pushes towards the positive verdict, blue away from it.
    Tabular features move the probability (percentage points); words of a text move its log-odds."""
    title, axis_format, tip_format = WORD_EFFECT if words else TABULAR_EFFECT
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_bar()
        .encode(
            x=alt.X("contribution:Q", title=title, axis=alt.Axis(format=axis_format)),
            y=alt.Y("feature:N", title=None, sort=alt.EncodingSortField(field="order", order="ascending"),
                    axis=alt.Axis(labelLimit=260)),
            color=alt.Color("effect:N", legend=alt.Legend(title=None, orient="top"),
                            scale=alt.Scale(domain=["raises score", "lowers score"], range=[RAISES, LOWERS])),
            tooltip=["feature:N", alt.Tooltip("contribution:Q", format=tip_format), "effect:N"],
        )
        .properties(height=alt.Step(26))
    )


def action_counts(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    colors = {"pending": "#4c78a8", "in_flight": "#f58518", "done": "#54a24b", "dead": "#e45756"}
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_bar()
        .encode(
            x=alt.X("actions:Q", title="actions", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("status:N", title=None, sort=list(colors), scale=alt.Scale(domain=list(colors))),
            color=alt.Color("status:N", legend=None,
                            scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
            tooltip=["status:N", "actions:Q"],
        )
        .properties(height=alt.Step(28))
    )


def metric_by_version(rows: Sequence[dict[str, Any]], name: str = "roc_auc") -> alt.Chart:
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=True)
        .encode(
            x=alt.X("version:O", title="version", axis=alt.Axis(labelAngle=0)),
            # the whole 0..1 range: a 0.0004 change between versions must look like what it is
            y=alt.Y(f"{name}:Q", title=name, scale=alt.Scale(domain=[0, 1])),
            tooltip=["version:O", alt.Tooltip(f"{name}:Q", format=".4f"), "status:N"],
        )
        .properties(height=220)
    )


def precision_at_k(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """One line per version: precision among its k highest-scored labelled predictions, precision 0..1.
    k is ordinal (5, 10, 20 … 500, evenly spaced): the API's k values grow about geometrically."""
    versions = [r["version"] for r in sorted(rows, key=lambda r: r["order"])]
    ks = sorted({int(r["k"]) for r in rows})
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=True)
        .encode(
            x=alt.X("k:O", title="k (top-scored labelled predictions)", sort=ks, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("precision:Q", title="precision at k", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format=".0%")),
            color=alt.Color("version:N", sort=list(dict.fromkeys(versions)), legend=alt.Legend(orient="top")),
            tooltip=["version:N", "k:O", alt.Tooltip("precision:Q", format=".1%"), "labelled:Q"],
        )
        .properties(height=240)
    )


def run_deltas(rows: Sequence[dict[str, Any]], bar: float) -> alt.LayerChart | alt.FacetChart:
    """Δ AUC (candidate − champion, same labels) per run with its interval, and the gate's line at ``bar`` (0, or
    −tolerance): a run whose interval's lower end is above the line passes. The y axis spans at least ±0.1, so
    an interval of a few thousandths reads as small."""
    reach = max([0.1, abs(bar) * 1.5, *(max(abs(r["low"]), abs(r["high"])) * 1.1 for r in rows)])
    base = alt.Chart(alt.Data(values=list(rows))).encode(
        x=alt.X("run:O", title="training run", axis=alt.Axis(labelAngle=0)))
    scale = alt.Scale(domain=[-reach, reach])
    interval = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("low:Q", title="Δ AUC, candidate − champion (interval)", scale=scale), y2="high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        y=alt.Y("delta:Q", scale=scale),
        color=alt.Color("status:N", legend=alt.Legend(orient="top", title=None),
                        scale=alt.Scale(domain=["promoted", "rejected"], range=["#54a24b", "#e45756"])),
        tooltip=["run:O", "status:N", alt.Tooltip("delta:Q", format="+.4f"), alt.Tooltip("low:Q", format="+.4f"),
                 alt.Tooltip("high:Q", format="+.4f"), "n:Q"])
    gate = alt.Chart(alt.Data(values=[{"bar": bar}])).mark_rule(strokeDash=[4, 4], color="#888").encode(
        y=alt.Y("bar:Q", scale=scale))
    zero = alt.Chart(alt.Data(values=[{"zero": 0.0}])).mark_rule(color="#bbb").encode(y=alt.Y("zero:Q", scale=scale))
    return alt.layer(zero, gate, interval, points).properties(height=220)
