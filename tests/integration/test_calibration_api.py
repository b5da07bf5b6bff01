"""Calibration over HTTP (issue 11, point 6): the reliability bins, Brier score and ECE of the champion's labelled
predictions, against a hand computation from the scores the API returned."""

from __future__ import annotations

from typing import Any

import pytest

from models.fraud import synthetic_transactions
from reviewqueue.client import Client


def test_calibration_matches_a_hand_computation(live_api: str, people: Any, as_: Any) -> None:
    frame = synthetic_transactions(60, seed=3)
    events = [{"external_id": f"c-{i}", "features": {
        "amount": float(r.amount) * (40 if i % 2 else 1), "merchant_category": str(r.merchant_category),
        "country_mismatch": bool(i % 3 == 0), "account_age_days": int(r.account_age_days),
        "card_present": bool(r.card_present), "hour": int(r.hour), "velocity_1h": int(r.velocity_1h) + i % 4},
        "context": {"charge_id": f"ch_c_{i}", "user_id": f"u_c_{i}", "currency": "usd"}}
        for i, r in enumerate(frame.itertuples(index=False))]
    with Client(live_api, people.integration) as business:
        scored = business.predict("fraud", events)
        # every fifth event a chargeback, the rest confirmed legit; ten left unlabelled
        labels = {p.external_id: ("fraud" if i % 5 == 0 else "legit") for i, p in enumerate(scored[:50])}
        business.outcomes("fraud", [{"event_id": f"o-{x}", "external_id": x, "label": v} for x, v in labels.items()])
    score = {p.external_id: p.score for p in scored}

    response = as_("data_scientist").get("/v1/models/fraud/calibration")
    assert response.status_code == 200, response.text
    report = response.json()

    y = {x: int(v == "fraud") for x, v in labels.items()}
    bins: dict[int, list[str]] = {}
    for x in labels:
        bins.setdefault(min(int(score[x] * 10), 9), []).append(x)
    assert (report["version"], report["n"], report["positives"], report["weighted"]) == (1, 50, 10, False)
    assert [(b["low"], b["n"]) for b in report["bins"]] == [(k / 10, len(bins[k])) for k in sorted(bins)]
    for b in report["bins"]:
        members = bins[round(b["low"] * 10)]
        assert b["observed"] == pytest.approx(sum(y[x] for x in members) / len(members))
        assert b["mean_score"] == pytest.approx(sum(score[x] for x in members) / len(members))
        assert b["observed_low"] <= b["observed"] <= b["observed_high"]
    assert report["brier"] == pytest.approx(sum((score[x] - y[x]) ** 2 for x in labels) / 50)
    ece = sum(len(m) / 50 * abs(sum(score[x] for x in m) / len(m) - sum(y[x] for x in m) / len(m))
              for m in bins.values())
    assert report["ece"] == pytest.approx(ece)


def test_calibration_refuses_an_unknown_version_and_other_roles(live_api: str, as_: Any) -> None:
    missing = as_("admin").get("/v1/models/fraud/calibration", params={"version": 9})
    assert missing.status_code == 404 and "version" in missing.text
    assert as_("admin").get("/v1/models/fraud/calibration", params={"version": 0}).status_code == 422
    assert as_("reviewer").get("/v1/models/fraud/calibration").status_code == 403
    empty = as_("admin").get("/v1/models/fraud/calibration").json()
    assert (empty["n"], empty["bins"], empty["brier"]) == (0, [], None) and "No labelled predictions" in empty["note"]
