"""The Monitor page's model-quality tabs: input and score drift against the training reference, and
calibration (reliability diagram). Each tab loads through reviewqueue.client and draws with ui.charts."""

from __future__ import annotations

import streamlit as st

from reviewqueue.client import Client
from reviewqueue.schemas import ModelOut

__all__ = ["calibration_tab", "drift_tab"]


def drift_tab(client: Client, model: ModelOut) -> None:
    st.caption("Drift against the training reference: being built.")


def calibration_tab(client: Client, model: ModelOut) -> None:
    st.caption("Calibration: being built.")
