"""The Monitor page's operations tabs: threshold what-if (and applying it as a routing-policy version), reviewer
statistics, queue health over time. Each tab is ``(client, model) -> None``, loads through reviewqueue.client and
draws with ui.ops_charts; the row builders are plain functions (tested without Streamlit)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import (
    ModelOut,
    ProportionOut,
    QueueHealthOut,
    ReviewersOut,
    RoutingPoliciesOut,
    RoutingPolicyOut,
    WhatIfOut,
)
from ui import format as fmt
from ui import ops_charts, session

__all__ = ["proportion_text", "queue_points", "queues_tab", "reviewer_rows", "reviewers_tab", "thresholds_tab",
           "version_rows", "what_if_rows"]

WHAT_IF_DAYS = (7, 14, 30)
REVIEWER_DAYS = (1, 7, 30, 90)
HEALTH_WINDOWS = {"last 24 hours, hourly": (1, "hour"), "last 2 days, hourly": (2, "hour"),
                  "last 7 days, hourly": (7, "hour"), "last 31 days, daily": (31, "day")}


def proportion_text(p: ProportionOut, unit: str = "labels") -> str:
    """'62.5% (41.0–80.2%, n = 24 labels)' or 'no data (n = 0)'."""
    if p.value is None:
        return f"no data (n = {p.n})"
    interval = f"{p.low:.1%}–{p.high:.1%}, " if p.low is not None and p.high is not None else ""
    effective = f", effective n ≈ {p.n_effective:.0f}" if round(p.n_effective) != p.n else ""
    return f"{p.value:.1%} ({interval}n = {p.n} {unit}{effective})"


def what_if_rows(result: WhatIfOut) -> list[dict[str, str]]:
    """The quality figures, each with what it means."""
    return [
        {"figure": "recall", "estimate": proportion_text(result.recall),
         "meaning": "positives auto-flagged or put in front of a person"},
        {"figure": "precision", "estimate": proportion_text(result.precision),
         "meaning": "auto-flags that are right (no person checks them first)"},
        {"figure": "missed", "estimate": proportion_text(result.missed),
         "meaning": "auto-passes that were in fact positive"},
    ]


def version_rows(policies: RoutingPoliciesOut) -> list[dict[str, Any]]:
    rows = [{"version": v.version, "active": "yes" if v.active else "", "review_low": v.review_low,
             "review_high": v.review_high, "audit_fraction": v.audit_fraction, "by": v.actor or fmt.DASH,
             "when": fmt.when(v.created_at), "why": v.reason or "", "recorded as": v.policy_version}
            for v in policies.versions]
    d = policies.decorator
    rows.append({"version": "decorator", "active": "yes" if d.active else "", "review_low": d.review_low,
                 "review_high": d.review_high, "audit_fraction": d.audit_fraction, "by": "the model's code",
                 "when": fmt.DASH, "why": "", "recorded as": d.policy_version})
    return rows


def _describe(p: RoutingPolicyOut) -> str:
    name = f"version {p.version}" if p.version is not None else "the decorator's policy"
    return (f"{name}: review {p.review_low:.2f} ≤ score < {p.review_high:.2f}, audit {p.audit_fraction:.1%} of "
            f"auto-decisions (recorded as {p.policy_version})")


def thresholds_tab(client: Client, model: ModelOut) -> None:
    policies = session.call(client.routing_policies, model.name)
    if policies is None:
        return
    active = policies.active
    st.markdown(f"**Routing now** — {fmt.md(_describe(active))}")
    days = st.selectbox("Traffic", WHAT_IF_DAYS, key=f"whatif-days-{model.name}",
                        format_func=lambda d: f"the champion's last {d} days")
    left, right = st.columns(2)
    low = left.slider("review_low: below it, auto-pass", 0.0, 1.0, active.review_low, 0.01,
                      key=f"whatif-low-{model.name}")
    high = right.slider("review_high: at or above it, auto-flag", 0.0, 1.0, active.review_high, 0.01,
                        key=f"whatif-high-{model.name}")
    if low > high:
        st.error("review_low must not be above review_high: move one of the sliders.")
        return
    result = session.call(client.what_if, model.name, low, high, days)
    now = session.call(client.what_if, model.name, active.review_low, active.review_high, days)
    if result is None or now is None:
        return
    _volumes(result, now)
    st.dataframe(what_if_rows(result), hide_index=True, width="stretch")
    st.caption(f"From {result.predictions} champion (v{result.champion_version}) predictions over "
               f"{result.observed_days:.2f} days and {result.labelled} of them labelled. Labels are weighted by 1/π "
               "(π: the chance each was sent to a person), so the audited and drawn auto-decisions stand for the "
               "traffic nobody reviewed; intervals are 95% Wilson at the effective sample size.")
    st.altair_chart(ops_charts.volume_curve([c.model_dump() for c in result.curve], low, high), width="stretch")
    _apply(client, model, policies, low, high)


def _volumes(result: WhatIfOut, now: WhatIfOut) -> None:
    cols = st.columns(4)
    for col, label, value, before in (
        (cols[0], "review / day", result.review_per_day, now.review_per_day),
        (cols[1], "audits / day", result.audits_per_day, now.audits_per_day),
        (cols[2], "auto-flag / day", result.auto_flag_per_day, now.auto_flag_per_day),
        (cols[3], "auto-pass / day", result.auto_pass_per_day, now.auto_pass_per_day),
    ):
        delta = value - before
        col.metric(label, f"{value:,.1f}", f"{delta:+,.1f} vs now" if abs(delta) >= 0.05 else None,
                   delta_color="off")


def _apply(client: Client, model: ModelOut, policies: RoutingPoliciesOut, low: float, high: float) -> None:
    st.markdown("**Routing-policy versions**")
    st.dataframe(version_rows(policies), hide_index=True, width="stretch")
    me = session.principal()
    if me is None or "policies.apply" not in me.permissions:
        st.caption("Only an admin applies thresholds.")
        return
    done = st.session_state.pop(f"policy-flash-{model.name}", None)
    if done:
        st.success(done, icon=":material/check_circle:")
    reason = st.text_input("Why (recorded with the version)", key=f"policy-reason-{model.name}", max_chars=2000)
    sure = st.checkbox(f"Route {model.name}'s next predictions with review {low:.2f} ≤ score < {high:.2f}",
                       key=f"policy-confirm-{model.name}")
    apply_col, back_col = st.columns(2)
    if apply_col.button("Apply as new routing-policy version", key=f"policy-apply-{model.name}", type="primary",
                        icon=":material/published_with_changes:", disabled=not (sure and reason.strip())):
        applied = session.call(client.apply_routing_policy, model.name, low, high, reason)
        if applied is not None:
            st.session_state[f"policy-flash-{model.name}"] = (
                f"Routing-policy version {applied.version} is active — {_describe(applied)}. Other processes "
                f"pick it up within {policies.staleness_seconds:g} s.")
            st.rerun()
    if policies.active.source == "stored" and back_col.button(
            "Roll back to the decorator's policy", key=f"policy-rollback-{model.name}",
            icon=":material/undo:", disabled=not reason.strip()):
        back = session.call(client.rollback_routing_policy, model.name, reason)
        if back is not None:
            st.session_state[f"policy-flash-{model.name}"] = f"Back to {_describe(back)}."
            st.rerun()


def _seconds(value: float | None) -> str:
    return fmt.duration(value) if value is not None else fmt.DASH


def reviewer_rows(report: ReviewersOut) -> list[dict[str, Any]]:
    return [{"reviewer": r.reviewer, "decisions": r.decisions, "decisions/day": round(r.decisions_per_day, 2),
             "votes": r.votes, "median claim → decision": _seconds(r.median_seconds),
             "p90 claim → decision": _seconds(r.p90_seconds), "timed n": r.time_to_decision_n,
             "audit agreement": proportion_text(r.audit_agreement, "audits"),
             "vote agreement": proportion_text(r.vote_agreement, "votes"),
             "overturned": proportion_text(r.overturned, "decisions"), "self-undone": r.self_undone}
            for r in report.reviewers]


def reviewers_tab(client: Client, model: ModelOut) -> None:
    me = session.principal()
    if me is None or "reviewers.read" not in me.permissions:
        st.info("Reviewer statistics are for admins.", icon=":material/lock:")
        return
    days = st.selectbox("Window", REVIEWER_DAYS, index=1, key=f"reviewers-days-{model.name}",
                        format_func=lambda d: f"last {d} day{'s' if d > 1 else ''}")
    report = session.call(client.reviewer_stats, model.name, days)
    if report is None:
        return
    if not report.reviewers:
        st.info("Nobody decided an item of this model in this window.")
        return
    rows = reviewer_rows(report)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption("Time to decision runs from the item's claim to the decision. Audit agreement: audits where the "
               "reviewer kept the model's verdict; vote agreement: four-eyes votes matching the round's verdict; "
               "overturned: decisions later reversed, or undone by someone else. Shares carry n and a 95% Wilson "
               "interval.")
    st.altair_chart(ops_charts.reviewer_throughput(rows), width="stretch")


def queue_points(health: QueueHealthOut) -> list[dict[str, Any]]:
    return [{"queue": p.queue, "at": p.at.isoformat(), "open items": p.open,
             "oldest (hours)": round(p.oldest_age_seconds / 3600, 2) if p.oldest_age_seconds is not None else 0.0}
            for p in health.points]


def queues_tab(client: Client, model: ModelOut) -> None:
    window = st.selectbox("Window", list(HEALTH_WINDOWS), index=1, key=f"health-window-{model.name}")
    days, step = HEALTH_WINDOWS[window]
    health = session.call(client.queue_health, model.name, days, step)
    if health is None:
        return
    if not health.queues:
        st.info("None of this model's queues is yours to see.")
        return
    points = queue_points(health)
    st.markdown("**Open items per queue**")
    st.altair_chart(ops_charts.queue_depth_over_time(points), width="stretch")
    st.markdown("**Age of the oldest open item**")
    st.altair_chart(ops_charts.queue_age(points), width="stretch")
    st.caption("Rebuilt from each item's creation and decision times (not sampled): open = created and not yet "
               "decided, waiting or held; an empty queue's age is drawn as 0.")
