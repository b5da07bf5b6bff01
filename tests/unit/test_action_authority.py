"""The action-authority rule (domain.authority) and the declarations rq.action refuses at import."""

from __future__ import annotations

import pytest

import reviewqueue as rq
from reviewqueue.domain.authority import Authority
from reviewqueue.errors import ConfigurationError

REFUND = {"charge": "context.charge_id", "amount": "features.amount"}


def test_money_and_accounts_default_to_human_only_notifications_to_automatic():
    assert rq.action("stripe_refund", **REFUND).rules.automatic is False
    assert rq.action("sql", statement="UPDATE t SET x = 1").rules.automatic is False
    assert rq.action("slack_message", channel="#a").rules.automatic is True
    assert rq.action("webhook").rules.automatic is True
    assert rq.action("webhook", automatic=False).rules.automatic is False
    assert rq.action("sql", automatic=True, statement="UPDATE t SET x = 1").rules.automatic is True


def test_limits_are_checked_in_order_with_reasons():
    rule = Authority(automatic=True, max_amount=100, daily_total=1000)
    assert rule.refusal("stripe_refund", 100, 900) is None
    assert "max_amount=100" in rule.refusal("stripe_refund", 150, 0)
    assert "daily_total=1000" in rule.refusal("stripe_refund", 60, 950)
    assert "not a number" in rule.refusal("stripe_refund", None, 0)
    assert "human-only" in Authority(automatic=False).refusal("sql", None, 0)
    assert Authority(automatic=True).refusal("webhook", None, 0) is None


@pytest.mark.parametrize(("declaration", "message"), [
    (lambda: rq.action("stripe_refund", ammount="features.amount", charge="context.charge_id"),
     r"unknown option\(s\) \['ammount'\]"),
    (lambda: rq.action("slack_message", chanel="#a"), r"unknown option\(s\) \['chanel'\]"),
    (lambda: rq.action("stripe_refund", automatic=True, max_amount=-5, **REFUND), "max_amount must be a finite"),
    (lambda: rq.action("stripe_refund", automatic=True, daily_total=float("inf"), **REFUND),
     "daily_total must be a finite"),
    (lambda: rq.action("stripe_refund", max_amount=10, **REFUND), "declare automatic=True"),
    (lambda: rq.action("webhook", automatic=True, max_amount=10), "needs an amount"),
    (lambda: rq.action("stripe_refund", charge="context.charge_id"), "declare amount="),
    (lambda: rq.action("stripe_refund", match={"customer": 3}, **REFUND), "match must map"),
    (lambda: rq.action("webhook", automatic="yes"), "automatic must be True or False"),
])
def test_bad_declarations_are_refused_at_import_with_the_reason(declaration, message):
    with pytest.raises(ConfigurationError, match=message):
        declaration()


def test_the_fraud_model_keeps_refunds_and_bans_for_humans(registry):
    fraud = {a.connector: a.rules for a in registry.model("fraud").actions_for("fraud")}
    assert fraud["stripe_refund"].automatic is False and fraud["sql"].automatic is False
    assert fraud["slack_message"].automatic and fraud["webhook"].automatic
