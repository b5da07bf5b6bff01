"""stripe_refund checks the charge against the event before refunding, at a real localstripe: a charge of
another user, another currency, or smaller than the event is refused permanently and left unrefunded; the
refund is the event's amount, never the whole charge."""

from __future__ import annotations

import pytest

from connectors.stripe_refund import StripeRefundConnector, minor_units
from reviewqueue.errors import PermanentDeliveryError

PARAMS = {"charge": "context.charge_id", "amount": "features.amount", "currency": "context.currency",
          "match": {"metadata.user_id": "user_id"}}


@pytest.fixture
def connector(localstripe, make_settings):
    connector = StripeRefundConnector(make_settings(**localstripe.settings_fields()))
    yield connector
    connector.close()


def refund_for(connector, make_action, charge: str, amount: float, user: str = "u7", currency: str = "usd"):
    payload = {"features": {"amount": amount}, "context": {"charge_id": charge, "user_id": user, "currency": currency}}
    return connector.deliver(make_action("stripe_refund", params=PARAMS, payload=payload))


def test_an_event_of_20_on_a_charge_of_50_refunds_exactly_20(connector, localstripe, make_action):
    charge = localstripe.create_charge(5_000, metadata={"user_id": "u7"})
    outcome = refund_for(connector, make_action, charge, 20.0)
    assert [r["amount"] for r in localstripe.refunds_for(charge)] == [2_000]
    assert outcome["amount"] == 2_000


def test_a_charge_of_another_user_is_refused_and_stays_unrefunded(connector, localstripe, make_action):
    charge = localstripe.create_charge(123_456, metadata={"user_id": "victim"})
    with pytest.raises(PermanentDeliveryError, match=r"metadata.user_id is 'victim'.*'u7'.*nothing was refunded"):
        refund_for(connector, make_action, charge, 1_234.56)
    assert localstripe.refunds_for(charge) == []


def test_a_charge_without_the_declared_metadata_is_refused(connector, localstripe, make_action):
    charge = localstripe.create_charge(5_000)
    with pytest.raises(PermanentDeliveryError, match="metadata.user_id is None"):
        refund_for(connector, make_action, charge, 10.0)
    assert localstripe.refunds_for(charge) == []


def test_another_currency_is_refused(connector, localstripe, make_action):
    charge = localstripe.create_charge(5_000, currency="eur", metadata={"user_id": "u7"})
    with pytest.raises(PermanentDeliveryError, match="in 'eur', the event in 'usd'"):
        refund_for(connector, make_action, charge, 10.0)
    assert localstripe.refunds_for(charge) == []


def test_an_event_larger_than_what_the_charge_has_left_is_refused(connector, localstripe, make_action):
    charge = localstripe.create_charge(5_000, metadata={"user_id": "u7"})
    refund_for(connector, make_action, charge, 40.0)
    with pytest.raises(PermanentDeliveryError, match="not within the 1000 the charge has left"):
        connector.deliver(make_action("stripe_refund", action_id="act_second", params=PARAMS, payload={
            "features": {"amount": 20.0}, "context": {"charge_id": charge, "user_id": "u7", "currency": "usd"}}))
    assert [r["amount"] for r in localstripe.refunds_for(charge)] == [4_000]


def test_minor_units_follow_the_currency():
    assert minor_units(20.5, "usd") == 2_050
    assert minor_units(1_234.56, "usd") == 123_456
    assert minor_units(500, "jpy") == 500
    assert minor_units("1.234", "kwd") == 1_234
    for bad in (20.005, -1, "abc", True, float("nan")):
        with pytest.raises(ValueError):
            minor_units(bad, "usd")
