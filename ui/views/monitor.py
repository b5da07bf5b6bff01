"""Monitor: how each model behaves after deployment, one tab per question.

Model quality (ui/monitor_model.py): input and score drift against the training reference, calibration.
Operations (ui/monitor_ops.py): threshold what-if and routing-policy versions, reviewer statistics, queue
health over time.

Every tab is a function ``(client, model) -> None`` listed in ``TABS``; a new tab is one line there.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import ModelOut
from ui import monitor_model, monitor_ops, session

Tab = Callable[[Client, ModelOut], None]

# (title, how to draw it). Model-quality tabs first; the operations tabs follow (ui/monitor_ops.py) — add
# them below the marked line, one line each, e.g. ("Threshold what-if", monitor_ops.what_if),
TABS: list[tuple[str, Tab]] = [
    ("Drift", monitor_model.drift_tab),
    ("Calibration", monitor_model.calibration_tab),
    # --- operations tabs (ui/monitor_ops.py) go here ---
    ("Thresholds", monitor_ops.thresholds_tab),
    ("Reviewers", monitor_ops.reviewers_tab),
    ("Queues", monitor_ops.queues_tab),
]

client, me = session.require()
st.title("Monitor")
models = session.call(client.models)
if models is None:
    st.stop()
if not models:
    st.info("No models registered.")
    st.stop()

names = [m.name for m in models]
chosen = st.selectbox("Model", names, key="monitor-model") if len(names) > 1 else names[0]
model = next(m for m in models if m.name == chosen)
for tab, (_, draw) in zip(st.tabs([title for title, _ in TABS]), TABS, strict=True):
    with tab:
        draw(client, model)
