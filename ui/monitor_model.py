"""The Monitor page's model-quality tabs: input and score drift against the training reference, and
calibration (reliability diagram). Each tab loads through reviewqueue.client and draws with ui.monitor_charts;
the row builders below are plain functions (tested without Streamlit)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import CalibrationReport, DriftReport, ModelOut
from ui import format as fmt
from ui import monitor_charts, session

__all__ = ["calibration_rows", "calibration_tab", "drift_rows", "drift_tab", "psi_points", "score_bin_rows"]

# the PSI table's level colours (backgrounds light enough to read the figures on)
LEVEL_COLOURS = {"alert": "#f8c4c4", "watch": "#fde3bf", "stable": "#d3ecd1"}
DAY_CHOICES = (7, 14, 30)


def _interval(low: float | None, high: float | None) -> str:
    return f"{low:.3f}–{high:.3f}" if low is not None and high is not None else fmt.DASH


def drift_rows(report: DriftReport) -> list[dict[str, Any]]:
    """The PSI table: each input's (and the score's) newest day with data, worst first."""
    rows = []
    for f in report.features:
        d = f.latest
        rows.append({
            "input": f.feature, "level": d.level if d else "no data",
            "PSI": round(d.psi, 4) if d and d.psi is not None else None,
            "95% interval": _interval(d.psi_low, d.psi_high) if d else fmt.DASH,
            "n": d.n if d else 0, "day": d.day.isoformat() if d else fmt.DASH,
            "noise at this n": round(d.noise, 4) if d and d.noise is not None else None,
            "alerted": ", ".join(day.isoformat() for day in f.alerted) or fmt.DASH,
        })
    return sorted(rows, key=lambda r: -(r["PSI"] or 0.0))


def _styled(rows: list[dict[str, Any]]) -> Any:
    """The PSI table with its level and PSI cells coloured by threshold (a pandas Styler: colour is the point)."""
    import pandas as pd

    def colour(level: str) -> list[str]:
        background = LEVEL_COLOURS.get(level)
        return [f"background-color: {background}" if background else ""] * 2

    frame = pd.DataFrame(rows)
    return frame.style.apply(lambda row: ["", *colour(row["level"]), *[""] * (len(row) - 3)], axis=1).format(
        {"PSI": "{:.4f}", "noise at this n": "{:.4f}"}, na_rep=fmt.DASH)


def psi_points(report: DriftReport, features: list[str]) -> list[dict[str, Any]]:
    """Chart rows: one point per chosen input and day with data."""
    return [{"feature": f.feature, "day": d.day.isoformat(), "psi": d.psi, "n": d.n, "level": d.level,
             "interval": _interval(d.psi_low, d.psi_high)}
            for f in report.features if f.feature in features for d in f.days if d.psi is not None]


def score_bin_rows(report: DriftReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for b in report.score_bins:
        rows.append({"bin": b.bin, "order": b.order, "series": "reference", "share": b.reference})
        rows.append({"bin": b.bin, "order": b.order, "series": "recent traffic", "share": b.current})
    return rows


def drift_tab(client: Client, model: ModelOut) -> None:
    days = st.selectbox("Days", DAY_CHOICES, index=1, key=f"drift-days-{model.name}",
                        format_func=lambda d: f"last {d} days")
    report = session.call(client.drift, model.name, days)
    if report is None:
        return
    if not report.has_reference:
        st.info(fmt.md(report.note), icon=":material/info:")
        return
    st.caption(fmt.md(report.note) + f" PSI ≥ {report.watch:g} is watch, ≥ {report.alert:g} alert; a day "
               f"with fewer than {report.min_sample} predictions never alerts (sampling alone gives PSI ≈ "
               "(bins − 1) / n, shown as the noise).")
    st.markdown("**Population Stability Index, newest day with traffic**")
    st.dataframe(_styled(drift_rows(report)), hide_index=True, width="stretch")
    names = [f.feature for f in report.features]
    chosen = st.multiselect("Inputs on the chart", names, default=names, key=f"drift-inputs-{model.name}")
    points = psi_points(report, chosen)
    if points:
        st.altair_chart(monitor_charts.psi_over_days(points, report.watch, report.alert), width="stretch")
    else:
        st.caption("No traffic in this window yet.")
    st.markdown(f"**Score distribution: the last {report.days} days ({report.window_n} predictions) against "
                "the reference**")
    st.altair_chart(monitor_charts.score_distribution(score_bin_rows(report)), width="stretch")


def calibration_rows(report: CalibrationReport) -> list[dict[str, Any]]:
    return [{"bin": f"{b.low:.1f}–{b.high:.1f}", "mean_score": b.mean_score, "observed": b.observed,
             "observed_low": b.observed_low, "observed_high": b.observed_high, "n": b.n,
             "interval": _interval(b.observed_low, b.observed_high)} for b in report.bins]


def calibration_tab(client: Client, model: ModelOut) -> None:
    report = session.call(client.calibration, model.name)
    if report is None:
        return
    st.caption(fmt.md(report.note))
    if not report.bins:
        return
    n, positives, brier, ece = st.columns(4)
    n.metric("Labelled predictions", report.n)
    positives.metric("Positive", report.positives)
    brier.metric("Brier score", f"{report.brier:.4f}" if report.brier is not None else fmt.DASH,
                 help="Mean squared difference between score and label: 0 is perfect")
    ece.metric("ECE", f"{report.ece:.4f}" if report.ece is not None else fmt.DASH,
               help="Expected calibration error: the bins' |mean score − observed share|, weighted by their labels")
    rows = calibration_rows(report)
    chart, table = st.columns([3, 2])
    with chart:
        st.markdown("**Reliability diagram**")
        st.altair_chart(monitor_charts.reliability(rows), width="stretch")
        st.caption("Points on the dashed diagonal are calibrated; bars are Wilson 95% intervals of the observed "
                   "share, points sized by their labels.")
    with table:
        st.markdown("**By score bin**")
        st.dataframe([{"bin": r["bin"], "mean score": round(r["mean_score"], 3),
                       "observed": round(r["observed"], 3), "95% interval": r["interval"], "n": r["n"]}
                      for r in rows], hide_index=True, width="stretch")
