"""Test data and drivers for the UI tests. Data: fraud events that fraud v1 scores in the review band
(0.15 <= score < 0.9).

`transaction(i, risky=True)` scores ~0.999 (auto_flag) and risky=False ~0.006 (auto_pass); neither reaches a
human. UNCERTAIN_FEATURES, with any amount in UNCERTAIN_AMOUNTS, scores 0.23-0.51 with the session's fraud v1
(GradientBoosting, seed 7 / random_state 0): a digital-goods card-present purchase from an old account at
22h with a country mismatch and 2 transactions in the last hour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from reviewqueue.client import Client
from reviewqueue.schemas import PredictionOut

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")

UNCERTAIN_FEATURES: dict[str, Any] = {
    "merchant_category": "digital_goods", "country_mismatch": True, "account_age_days": 900,
    "card_present": True, "hour": 22, "velocity_1h": 2,
}
# scores with fraud v1: 200 → 0.290, 400 → 0.343, 600 → 0.352, 900 → 0.513, 1300 → 0.305
UNCERTAIN_AMOUNTS = (900.0, 1300.0, 600.0, 400.0, 200.0)
# Fallbacks, tried in order if a retrained model moves the first out of the band (each probed at 0.3-0.7).
CANDIDATES: tuple[Mapping[str, Any], ...] = (
    UNCERTAIN_FEATURES,
    {"merchant_category": "digital_goods", "country_mismatch": True, "account_age_days": 60,
     "card_present": True, "hour": 14, "velocity_1h": 2},
    {"merchant_category": "electronics", "country_mismatch": False, "account_age_days": 900,
     "card_present": False, "hour": 14, "velocity_1h": 2},
    {"merchant_category": "grocery", "country_mismatch": True, "account_age_days": 3,
     "card_present": True, "hour": 22, "velocity_1h": 2},
)


def uncertain_events(n: int, prefix: str = "ui", features: Mapping[str, Any] = UNCERTAIN_FEATURES,
                     amounts: Sequence[float] = UNCERTAIN_AMOUNTS) -> list[dict[str, Any]]:
    """n fraud events with external ids f"{prefix}-{i}", amounts cycling through ``amounts``."""
    return [
        {"external_id": f"{prefix}-{i}", "features": {**features, "amount": amounts[i % len(amounts)]},
         "context": {"charge_id": f"ch_{prefix}_{i}", "user_id": f"u_{prefix}_{i}", "currency": "usd"}}
        for i in range(n)
    ]


def ingest_uncertain(client: Client, n: int = 3, prefix: str = "ui") -> list[PredictionOut]:
    """Ingest n events that all land in the review queue, returned in claim-next order (highest first).

    Tries CANDIDATES in order and keeps the first whose whole batch routes to review: deterministic, since the
    model and the candidates are fixed. A candidate that misses leaves its predictions under its own ids.
    """
    for k, features in enumerate(CANDIDATES):
        events = uncertain_events(n, f"{prefix}{k}", features)
        batch = client.predict("fraud", events)
        if all(p.route == "review" for p in batch):
            amount = {e["external_id"]: float(e["features"]["amount"]) for e in events}
            # priority = score x amount (ExpectedLoss), ties oldest first
            return sorted(batch, key=lambda p: (-round(p.score * amount[p.external_id], 6), p.item_id or 0))
    raise AssertionError("no candidate combination scores in the review band; re-probe the model")


@dataclass
class Clinic:
    """Tokens of the people in the clinical tests (sign-in passwords are f"{name}-pw")."""

    clinician: str
    admin: str
    integration: str
    ids: dict[str, int]


# --- driving the app ----------------------------------------------------------------------------------------

def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.run()
    at.text_input(key="signin-name").input(name)
    at.text_input(key="signin-password").input(password)
    return at.button(key="signin-submit").click().run()


def shown(markdown: object) -> str:
    """What a Markdown element shows: the pages escape every user-supplied value (ui.format.md), so an
    element's source carries backslash escapes (and, for URL-like values, code-span fences) that the browser does
    not display."""
    source = re.sub(r"(`+) ?(.*?) ?\1", r"\2", str(markdown), flags=re.DOTALL)
    return re.sub(r"\\(.)", r"\1", source, flags=re.DOTALL)


def texts(at: AppTest) -> str:
    """Everything the page shows as text, for 'does the page say X' assertions."""
    parts: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts.extend(shown(e.value) for e in at.get(kind))
    parts.extend(f"{m.label}: {m.value}" for m in at.metric)
    return "\n".join(parts)


def rows(ctx: Any, sql: str, **params: Any) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())
