"""Models: champion, labels towards the next retrain, versions and metrics, per-version quality (labels used,
held-out precision / recall / AUC, precision at k of the queue's top items), training runs; retrain now."""

from __future__ import annotations

import streamlit as st

from reviewqueue.schemas import ModelOut, VersionOut, VersionQuality
from ui import charts, session
from ui import format as fmt
from ui import quality as qual

client, me = session.require()
METRIC = "roc_auc"  # the fraud model's promotion metric; the API does not say which one a model uses
QUALITY_VERSIONS = 6  # newest versions with a quality report (one API call each)


def _retrain(model: ModelOut) -> None:
    with st.status(f"Retraining {fmt.md(model.name)}…", expanded=True) as status:
        bar = st.progress(0.0, text="Training on the base data plus labels, exporting to ONNX, "
                                    "evaluating against the champion")
        run, problem = session.attempt(client.retrain, model.name)
        bar.progress(1.0, text="Finished")
        if run is None:
            status.update(label=f"Retraining {fmt.md(model.name)} failed", state="error")
            st.error(fmt.md(session.error_text(problem)) if problem else "The API returned nothing.")
        else:
            failed = run.status == "failed"
            status.update(label=fmt.md(fmt.run_summary(run, METRIC)), state="error" if failed else "complete",
                          expanded=False)


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
        if button.button("Retrain now", key=f"retrain-{model.name}", icon=":material/model_training:",
                         width="stretch"):
            _retrain(model)
            refreshed = session.call(client.models) or []
            model = next((m for m in refreshed if m.name == model.name), model)

        champion, labels, schedule = st.columns(3)
        champion.metric("Champion", f"v{model.champion_version}" if model.champion_version else "none")
        labels.metric("New labels since last run", model.labels_since_last_run)
        schedule.metric("Retrain schedule", model.retrain_cron or "—")
        st.progress(fmt.retrain_fraction(model.labels_since_last_run, model.retrain_min_new_labels),
                    text=f"{model.labels_since_last_run} of {model.retrain_min_new_labels} new labels "
                         "before an automatic retrain")

        versions = session.call(client.versions, model.name) or []
        runs = session.call(client.runs, model.name) or []
        table, chart = st.columns([3, 2])
        with table:
            st.markdown("**Versions**")
            st.dataframe(fmt.version_rows(versions), hide_index=True, width="stretch")
        with chart:
            st.markdown(f"**{METRIC} by version**")
            points = fmt.metric_points(versions, METRIC)
            if points:
                st.altair_chart(charts.metric_by_version(points, METRIC), width="stretch")
            else:
                st.caption("No version has this metric yet.")
        _quality(model, versions)
        shadow = session.call(client.shadow, model.name) if "versions.read" in me.permissions else None
        if shadow is not None and shadow.shadow_version is not None:
            st.info(f"Shadow: {fmt.md(shadow.summary)}", icon=":material/compare_arrows:")
        if "models.promote" in me.permissions and versions:
            _serve_by_hand(model, versions)
        st.markdown("**Training runs**")
        if runs:
            latest = next((r for r in runs if r.decision), None)
            if latest is not None:
                st.caption(f"Latest decision (run {latest.id}): {fmt.md(latest.decision)}")
            st.dataframe(fmt.run_rows(runs, versions, METRIC), hide_index=True, width="stretch")
        else:
            st.caption("No training runs yet.")
