"""Models: champion (with where its figure comes from), the schedule in words, labels towards the next retrain,
versions and metrics on honest axes, per-version quality, training runs each explained with the gate that decided
it; retrain now with a progress bar that follows the run (the API answers at once; the page polls the run)."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from reviewqueue.schemas import ModelOut, RunOut, VersionOut, VersionQuality
from ui import charts, serving_profile, session
from ui import format as fmt
from ui import model_story as story
from ui import quality as qual

client, me = session.require()
METRIC = "roc_auc"  # the metric the gate judges (weighted); charts and tables show it
QUALITY_VERSIONS = 6  # newest versions with a quality report (one API call each)
EXPLAINED_RUNS = 5  # newest finished runs explained in words
POLL_SECONDS = 1.0
STALE_RUN_SECONDS = 3600  # a run still "running" after this long was probably left by a stopped process


def _start_retrain(model: ModelOut) -> None:
    """Ask the API to start a run (202 at once); the progress fragment then follows it."""
    run, problem = session.attempt(client.retrain, model.name, wait=False)
    if problem is not None:
        st.session_state[f"retrain-error-{model.name}"] = session.error_text(problem)
    elif run is not None:
        st.session_state[f"retrain-run-{model.name}"] = run.id


def _retrain_progress(model: ModelOut, runs: list[RunOut]) -> None:
    """While a run of this model is going (started here, or by the scheduler or the CLI): its stage and fraction
    from the run's row, polled every POLL_SECONDS; once it ends, the page reloads and explains its decision."""
    key = f"retrain-run-{model.name}"
    run_id = st.session_state.get(key) or next((r.id for r in runs if r.status == "running"), None)
    if run_id is None:
        return

    @st.fragment(run_every=POLL_SECONDS)
    def follow() -> None:
        run = session.call(client.run, model.name, run_id)
        if run is None:
            return
        if run.status == "running":
            fraction = run.progress or 0.0
            st.progress(fraction, text=f"Run {run.id}: {fmt.md(run.stage or 'starting')} — {fraction:.0%}")
            if fmt.age_seconds(run.started_at, datetime.now(UTC)) > STALE_RUN_SECONDS:
                st.warning(f"Run {run.id} started {fmt.when(run.started_at)} and has not finished: if the process "
                           "training it stopped, its lease lapses 30 minutes after its last step and a new retrain "
                           "can start.", icon=":material/hourglass_disabled:")
            return
        st.session_state.pop(key, None)
        st.session_state[f"retrained-{model.name}"] = run.id
        st.rerun()  # the whole page: new version, new tables

    follow()


def _finished_retrain(model: ModelOut, runs: list[RunOut], versions: list[VersionOut]) -> None:
    """The run this page just followed to its end: its outcome and why, in words."""
    if problem := st.session_state.pop(f"retrain-error-{model.name}", None):
        st.error(fmt.md(f"Retrain not started: {problem}"))
    run_id = st.session_state.pop(f"retrained-{model.name}", None)
    run = next((r for r in runs if r.id == run_id), None)
    if run is None:
        return
    explained = story.explain_run(run, model.promotion_gate, {v.id: v.version for v in versions})
    show = st.error if run.status == "failed" else st.success if run.status == "promoted" else st.info
    show(fmt.md(explained), icon=":material/model_training:")


def _headline(model: ModelOut, versions: list[VersionOut], runs: list[RunOut]) -> None:
    """Champion, its one AUC figure with its source, labels towards the next retrain, the schedule in words."""
    champion, figure, labels, schedule = st.columns([1, 1.4, 1, 1.6])
    champion.metric("Champion", f"v{model.champion_version}" if model.champion_version else "none")
    value, source = story.champion_headline(versions, runs)
    figure.metric("Champion AUC", value, help=f"{source}. Every AUC on this page says which labels it is on.")
    figure.caption(fmt.md(source))
    labels.metric("New labels since last run", model.labels_since_last_run)
    # not st.metric: its value never wraps, and a schedule in words is often longer than a column
    schedule.caption("Retrain schedule")
    schedule.markdown(f"##### {fmt.md(model.retrain_schedule or model.retrain_cron or '—')}")
    if model.retrain_cron:
        schedule.caption(f"cron `{model.retrain_cron}` (APScheduler, UTC)" if model.retrain_schedule
                         != model.retrain_cron else "cron as written: not said in words exactly")
    st.progress(fmt.retrain_fraction(model.labels_since_last_run, model.retrain_min_new_labels),
                text=f"{model.labels_since_last_run} of {model.retrain_min_new_labels} new labels "
                     "before an automatic retrain")


def _versions_and_deltas(model: ModelOut, versions: list[VersionOut], runs: list[RunOut]) -> None:
    """Versions with the labels each figure is on; AUC by version on a 0..1 axis; Δ per run with its interval
    against the gate's line."""
    table, chart = st.columns([3, 2])
    with table:
        st.markdown("**Versions**")
        st.dataframe(story.version_rows(versions), hide_index=True, width="stretch")
        st.caption("AUC when trained: measured by the run that trained the version, on that run's labels "
                   "(\"measured on\"). A later run measures the champion again on newer labels: see Training runs.")
    with chart:
        st.markdown(f"**{METRIC} by version (when trained)**")
        points = fmt.metric_points(versions, METRIC)
        if points:
            st.altair_chart(charts.metric_by_version(points, METRIC), width="stretch")
        else:
            st.caption("No version has this metric yet.")
        deltas = story.delta_rows(reversed(runs))
        gate = model.promotion_gate
        if deltas and gate is not None:
            bar = 0.0 if gate.require_improvement else -gate.tolerance
            st.markdown("**Δ AUC per run, candidate − champion on the same labels**")
            st.altair_chart(charts.run_deltas(deltas, bar), width="stretch")
            st.caption(f"Dots: Δ; bars: its {story.interval_level(gate.confidence):.0%} interval; dashed line: "
                       f"the gate ({bar:+g}) — a run passes when its whole bar is above it.")


def _runs_explained(model: ModelOut, runs: list[RunOut], versions: list[VersionOut]) -> None:
    """Training runs: the gate in one sentence, the newest decisions in words, and the table of figures."""
    st.markdown("**Training runs**")
    if model.promotion_gate is not None:
        st.caption(fmt.md(story.gate_text(model.promotion_gate)))
    if not runs:
        st.caption("No training runs yet.")
        return
    numbers = {v.id: v.version for v in versions}
    finished = [r for r in runs if r.status in ("promoted", "rejected", "failed")][:EXPLAINED_RUNS]
    for run in finished[:1]:
        st.markdown(fmt.md(story.explain_run(run, model.promotion_gate, numbers)))
    if len(finished) > 1:
        with st.expander(f"Why the {len(finished) - 1} runs before it ended as they did"):
            for run in finished[1:]:
                st.markdown(fmt.md(story.explain_run(run, model.promotion_gate, numbers)))
    st.dataframe(story.run_rows(runs, numbers), hide_index=True, width="stretch")


def _quality(model: ModelOut, versions: list[VersionOut]) -> None:
    """Per version: labels used and held-out metrics (table); precision at k, one line per version (chart)."""
    recent = qual.latest_versions(versions, QUALITY_VERSIONS)
    reports: dict[int, VersionQuality] = {}
    for v in recent:
        report = session.call(client.version_quality, model.name, v.version)
        if report is not None:
            reports[v.version] = report
    if not reports:
        st.markdown("**Quality by version**")
        st.caption("No version to report on yet.")
        return
    table, chart = st.columns([3, 2])
    with table:
        st.markdown("**Quality by version**")
        st.dataframe(qual.quality_rows(recent, reports), hide_index=True, width="stretch")
        older = f" Showing the newest {len(recent)} versions." if len(versions) > len(recent) else ""
        st.caption("Held-out metrics are measured when the version is trained, on labels it did not train on "
                   "(held-out n of them; none for a zero-shot version). Labelled now: the predictions this "
                   f"version scored that carry a label today.{older}")
    with chart:
        points = qual.precision_at_k_rows(reports)
        st.markdown(f"**Precision at k — {fmt.md(model.queue)}'s top items**")
        if points:
            st.altair_chart(charts.precision_at_k(points), width="stretch")
            st.caption("Of each version's k highest-scored predictions that carry a label now, the share "
                       "labelled with the positive verdict (the one the score predicts).")
        else:
            st.caption("No labelled predictions yet: decide items in the queue to see precision at k.")


def _serve_by_hand(model: ModelOut, versions: list[VersionOut]) -> None:
    """Promote any evaluated version, or roll back to the previous champion; the API records who and why."""
    others = [v.version for v in versions if v.status != "champion"]
    with st.expander("Change what serves by hand", icon=":material/swap_horiz:"):
        reason = st.text_input("Why (recorded with your name)", key=f"serve-reason-{model.name}", max_chars=500)
        pick, promote, back = st.columns([2, 1, 1], vertical_alignment="bottom")
        version = pick.selectbox("Version", others, key=f"serve-version-{model.name}",
                                 format_func=lambda v: f"v{v}") if others else None
        chosen = promote.button("Promote", key=f"promote-{model.name}", disabled=version is None or not reason,
                                width="stretch")
        rolled = back.button("Roll back", key=f"rollback-{model.name}", disabled=not reason, width="stretch",
                             help="Serve again the version that served before the current champion")
        if chosen and version is not None:
            run = session.call(client.promote, model.name, version, reason)
        elif rolled:
            run = session.call(client.rollback, model.name, reason)
        else:
            return
        if run is not None:  # redraw with the new champion; the decision shows above it
            st.session_state[f"served-{model.name}"] = run.decision
            st.rerun()


st.title("Models")
models = session.call(client.models)
if models is None:
    st.stop()
if not models:
    st.info("No models registered.")

for model in models:
    with st.container(border=True):
        head, button = st.columns([5, 1], vertical_alignment="center")
        head.subheader(fmt.md(model.name))
        head.caption(fmt.md(model.description))
        if served := st.session_state.pop(f"served-{model.name}", None):
            st.success(fmt.md(served), icon=":material/swap_horiz:")
        running = st.session_state.get(f"retrain-run-{model.name}") is not None
        button.button("Retrain now", key=f"retrain-{model.name}", icon=":material/model_training:",
                      width="stretch", disabled=running or "models.retrain" not in me.permissions,
                      on_click=_start_retrain, args=(model,))
        versions = session.call(client.versions, model.name) or []
        runs = session.call(client.runs, model.name) or []
        _retrain_progress(model, runs)
        _finished_retrain(model, runs, versions)
        _headline(model, versions, runs)
        _versions_and_deltas(model, versions, runs)
        _quality(model, versions)
        serving_profile.render(client, model)
        shadow = session.call(client.shadow, model.name) if "versions.read" in me.permissions else None
        if shadow is not None and shadow.shadow_version is not None:
            st.info(f"Shadow: {fmt.md(shadow.summary)}", icon=":material/compare_arrows:")
        if "models.promote" in me.permissions and versions:
            _serve_by_hand(model, versions)
        _runs_explained(model, runs, versions)
