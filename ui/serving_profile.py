"""Models page: how the champion serves on this hardware — the `reviewqueue bench-model` profile of the version
and the serving config applied from it (GET /v1/models/{model}/versions/{version}/serving-profile)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import ModelOut
from ui import format as fmt
from ui import session

__all__ = ["profile_rows", "render"]


def profile_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measured configuration: latency, rows/s per batch size, parity, whether it may serve."""
    rows = []
    for r in profile.get("variants", []):
        parity = r["parity"]
        row: dict[str, Any] = {
            "configuration": r["label"], "p50 ms": round(r["latency_p50_ms"], 3),
            "p99 ms": round(r["latency_p99_ms"], 3),
        }
        for size, rate in r["throughput"].items():
            row[f"rows/s @{size}"] = None if rate is None else round(rate)
        row.update({
            "max |Δp|": parity["max_abs_diff"], "Spearman": parity["spearman"],
            "routes changed": f"{parity['changed_routes']} of {parity['n']}",
            "parity": ("passes" if r["passes"] else "fails") if r["applicable"] else "framework (reference)",
        })
        rows.append(row)
    return rows


def render(client: Client, model: ModelOut) -> None:
    """The champion's serving profile and applied config, in an expander (nothing when no version serves)."""
    version = model.champion_version
    if version is None:
        return
    with st.expander(f"Serving on this hardware (v{version})", icon=":material/speed:"):
        out = session.call(client.serving_profile, model.name, version)
        if out is None:
            return
        if out.config:
            config = out.config
            st.caption(f"Serves with {fmt.md(config['name'])}: {fmt.md(config['model_file'])} on "
                       f"{fmt.md(', '.join(config['providers']))}, {config['intra_op_threads']} thread(s); "
                       f"applied by {fmt.md(config.get('applied_by', '?'))} at "
                       f"{fmt.md(config.get('applied_at', '?'))}. "
                       "REVIEWQUEUE_ORT_PROVIDERS / REVIEWQUEUE_ORT_INTRA_OP_THREADS override it.")
        else:
            st.caption("No serving config applied: providers and threads come from the settings (auto: CUDA when "
                       "present, then CPU; half the cores).")
        profile = out.profile
        if not profile:
            command = fmt.code_span(f"reviewqueue bench-model {model.name}")  # verbatim: no escapes in a code span
            st.caption(f"Not measured yet: run {command} on the serving host.")
            return
        st.dataframe(profile_rows(profile), hide_index=True, width="stretch")
        host, sample = profile["host"], profile["sample"]
        load = host.get("load_1m")
        st.caption(
            f"Measured {fmt.md(profile['measured_at'])} on {host['cores']} cores"
            f"{f' (load {load:.2f})' if load is not None else ''}, onnxruntime {fmt.md(host['onnxruntime'])}, on "
            f"{sample['n']} inputs ({fmt.md(sample['source'])}). Parity against {fmt.md(profile['reference'])}: a "
            f"configuration passes when at most {profile['max_route_changes']} routing decision(s) change at the "
            f"thresholds {profile['routing']['review_low']}–{profile['routing']['review_high']}. Fastest passing: "
            f"{fmt.md(profile.get('fastest_passing') or 'none')}.")
        larger = [b for b in profile.get("batch_sizes", ()) if b > sample["n"]]
        if larger:  # their cells read "None": say why rather than leave it to be guessed
            st.caption(f"Not measured: rows/s at batch {', '.join(map(str, larger))}, larger than the {sample['n']} "
                       "inputs measured on (bench-model --sample N, with at least that many predictions).")
        for skipped in profile.get("skipped") or ():  # not measured, and why (bench-model says the same)
            st.caption(f"Not measured: {fmt.md(', '.join(skipped['names']))}: {fmt.md(skipped['reason'])}")
