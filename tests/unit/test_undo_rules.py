"""Undo windows and compensations are declared, and refused at import when wrong (domain.undo, registry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import reviewqueue as rq
from reviewqueue.domain.undo import undo_refusal, undo_windows
from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import Registry
from reviewqueue.services.effects import verdict_effects

REFUND = {"charge": "context.charge_id", "amount": "features.amount", "currency": "context.currency"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fraud_spec():
    registry = Registry()
    registry.load_modules(["models.fraud"])
    return registry.model("fraud")


def test_windows_per_verdict_or_one_for_all_and_refused_when_wrong():
    assert undo_windows("m", ["fraud", "legit"], {"fraud": 30}) == {"fraud": 30.0, "legit": 0.0}
    assert undo_windows("m", ["fraud", "legit"], 10) == {"fraud": 10.0, "legit": 10.0}
    for bad, message in (({"frod": 30}, "unknown verdict"), ({"fraud": -1}, "from 0 to"),
                         ({"fraud": float("nan")}, "from 0 to"), ({"fraud": True}, "from 0 to"),
                         (10 ** 6, "from 0 to")):
        with pytest.raises(ConfigurationError, match=message):
            undo_windows("m", ["fraud", "legit"], bad)


def test_every_action_has_a_compensation_or_is_irreversible():
    assert rq.action("slack_message", channel="#x").compensation.connector == "slack_message"
    assert rq.action("webhook").compensation.connector == "webhook"
    assert rq.action("sql", statement="UPDATE t SET x = 1").compensation is None
    with pytest.raises(ConfigurationError, match="not irreversible"):
        rq.action("sql", statement="x", irreversible=True, compensate=rq.action("sql", statement="y"))
    with pytest.raises(ConfigurationError, match="compensate must be an action"):
        rq.action("sql", statement="x", compensate="UPDATE t SET x = 0")
    with pytest.raises(ConfigurationError, match="no compensation of its own"):
        rq.action("sql", statement="x", compensate=rq.action("slack_message", channel="#x", irreversible=True))
    spec = fraud_spec()
    with pytest.raises(ConfigurationError, match="action 'stripe_refund' of verdict 'fraud' declares no compensation"):
        rq.model(name="f2", features={"amount": float}, dataset=spec.dataset, positive_verdict="fraud",
                 negative_verdict="legit", verdicts={"fraud": [rq.action("stripe_refund", **REFUND)], "legit": []},
                 )(spec.train)
    with pytest.raises(ConfigurationError, match="undo_seconds names unknown verdict"):
        rq.model(name="f3", features={"amount": float}, dataset=spec.dataset, positive_verdict="fraud",
                 negative_verdict="legit", verdicts={"fraud": [], "legit": []}, undo_seconds={"frod": 5},
                 )(spec.train)


def test_the_fraud_buttons_say_what_cannot_be_undone_before_the_decision():
    effects = {v.verdict: v for v in verdict_effects(fraud_spec(), {"features": {"amount": 954.14},
                                                                   "context": {"currency": "usd"}})}
    assert effects["fraud"].label == "Fraud — refunds $954.14, irreversible"
    assert effects["fraud"].irreversible and not effects["legit"].irreversible
    assert {a.connector: a.compensation for a in effects["fraud"].actions} == {
        "stripe_refund": None, "slack_message": "slack_message", "sql": "sql", "webhook": "webhook"}
    assert effects["legit"].label == "Legit"


def test_each_verdict_previews_every_action_with_its_target_and_whether_it_can_be_undone():
    event = {"features": {"amount": 954.14}, "context": {"charge_id": "ch_9", "user_id": "u_7", "currency": "usd"}}
    effects = {v.verdict: v for v in verdict_effects(fraud_spec(), event)}
    assert effects["fraud"].preview == ("refunds $954.14 on ch_9 (irreversible), posts to #fraud-alerts, "
                                        "updates users (user_id u_7), sends a webhook · undo within 30 s")
    assert effects["legit"].preview == "sends a webhook · fires at once, reversible later"
    # without an event (the model's description) it speaks generally
    general = {v.verdict: v for v in verdict_effects(fraud_spec())}
    assert general["fraud"].preview.startswith("refunds the event's amount (irreversible), posts to #fraud-alerts")


def test_an_undo_wins_only_while_every_action_waits():
    end = T0 + timedelta(seconds=30)
    assert undo_refusal(T0, T0, end, delivered=0, actions=4) is None
    assert undo_refusal(end, T0, end, delivered=0, actions=4) is None  # the worker has not taken them: still in time
    assert undo_refusal(end, T0, end, delivered=1, actions=4) == \
        "too late: 1 action already delivered; reverse it instead"
    assert "no undo window" in (undo_refusal(T0, T0, T0, delivered=0, actions=1) or "")
    assert "window closed" in (undo_refusal(end, T0, end, delivered=0, actions=0) or "")
