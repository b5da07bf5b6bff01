"""stripe_refund against a real localstripe: refunds are asserted where they live, at localstripe."""

from __future__ import annotations

import pytest
import stripe

from connectors.stripe_refund import METADATA_KEY, StripeRefundConnector, translate_stripe_error
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError


@pytest.fixture
def connector(localstripe, make_settings):
    connector = StripeRefundConnector(make_settings(**localstripe.settings_fields()))
    yield connector
    connector.close()


@pytest.fixture
def charge(localstripe) -> str:
    return localstripe.create_charge(4_200)


def test_refund_is_created_with_the_action_id_in_its_metadata(
    connector, localstripe, charge, make_action, payload_for
):
    outcome = connector.deliver(
        make_action("stripe_refund", action_id="act_refund_1", payload=payload_for(charge_id=charge))
    )

    refunds = localstripe.refunds_for(charge)
    assert len(refunds) == 1
    assert refunds[0]["metadata"] == {METADATA_KEY: "act_refund_1"}
    assert refunds[0]["amount"] == 4_200
    assert outcome == {
        "refund_id": refunds[0]["id"],
        "amount": 4_200,
        "status": "succeeded",
        "charge": charge,
    }


def test_retry_with_unknown_outcome_returns_the_existing_refund_and_creates_none(
    connector, localstripe, charge, make_action, payload_for
):
    first = connector.deliver(
        make_action("stripe_refund", action_id="act_twice", payload=payload_for(charge_id=charge))
    )
    again = connector.deliver(
        make_action(
            "stripe_refund",
            action_id="act_twice",
            attempt=2,
            outcome_unknown=True,
            payload=payload_for(charge_id=charge),
        )
    )

    assert again == first
    assert len(localstripe.refunds_for(charge)) == 1


def test_any_later_attempt_looks_before_refunding(connector, localstripe, charge, make_action, payload_for):
    connector.deliver(make_action("stripe_refund", action_id="act_a", payload=payload_for(charge_id=charge)))
    connector.deliver(
        make_action("stripe_refund", action_id="act_a", attempt=3, payload=payload_for(charge_id=charge))
    )

    assert len(localstripe.refunds_for(charge)) == 1


def test_localstripe_ignores_idempotency_keys_so_the_lookup_is_what_protects(
    connector, localstripe, charge, make_action, payload_for
):
    """Documents the peer: two first attempts with one key make two refunds there (real Stripe would not)."""
    for _ in range(2):
        connector.deliver(
            make_action("stripe_refund", action_id="act_same", payload=payload_for(charge_id=charge))
        )

    assert len(localstripe.refunds_for(charge)) == 2


def test_the_lookup_ignores_refunds_made_by_other_actions(
    connector, localstripe, charge, make_action, payload_for
):
    connector.deliver(
        make_action("stripe_refund", action_id="act_one", payload=payload_for(charge_id=charge))
    )
    outcome = connector.deliver(
        make_action(
            "stripe_refund",
            action_id="act_other",
            outcome_unknown=True,
            attempt=2,
            payload=payload_for(charge_id=charge),
        )
    )

    refunds = localstripe.refunds_for(charge)
    assert len(refunds) == 2
    mine = [r for r in refunds if r["metadata"] == {METADATA_KEY: "act_other"}]
    assert [r["id"] for r in mine] == [outcome["refund_id"]]


def test_the_lookup_pages_past_the_first_hundred_refunds(
    connector, localstripe, charge, make_action, payload_for
):
    payload = payload_for(charge_id=charge)
    first = connector.deliver(make_action("stripe_refund", action_id="act_oldest", payload=payload))
    for n in range(104):  # localstripe accepts over-refunds, which makes this cheap to set up
        connector.deliver(make_action("stripe_refund", action_id=f"act_filler_{n}", payload=payload))

    again = connector.deliver(
        make_action("stripe_refund", action_id="act_oldest", outcome_unknown=True, attempt=2, payload=payload)
    )

    assert again["refund_id"] == first["refund_id"]
    assert len(localstripe.refunds_for(charge)) == 105


def test_charge_path_is_configurable(connector, localstripe, charge, make_action):
    connector.deliver(
        make_action(
            "stripe_refund", params={"charge": "stripe.charge"}, payload={"stripe": {"charge": charge}}
        )
    )

    assert len(localstripe.refunds_for(charge)) == 1


def test_a_missing_charge_path_is_permanent_and_named(connector, make_action):
    with pytest.raises(PermanentDeliveryError, match="context.charge_id"):
        connector.deliver(make_action("stripe_refund", payload={"context": {}}))


def test_an_unknown_charge_is_permanent(connector, make_action, payload_for):
    with pytest.raises(PermanentDeliveryError, match="InvalidRequestError"):
        connector.deliver(make_action("stripe_refund", payload=payload_for(charge_id="ch_doesnotexist")))


def test_a_rejected_api_key_is_permanent(
    localstripe, make_settings, charge, make_action, payload_for, closing
):
    settings = make_settings(stripe_api_key="pk_test_publishable", stripe_api_base=localstripe.url)
    connector = closing(StripeRefundConnector(settings))

    with pytest.raises(PermanentDeliveryError, match="AuthenticationError"):
        connector.deliver(make_action("stripe_refund", payload=payload_for(charge_id=charge)))
    assert localstripe.refunds_for(charge) == []


def test_an_unreachable_stripe_is_retryable(make_settings, refused_url, make_action, payload_for, closing):
    settings = make_settings(stripe_api_key="sk_test_x", stripe_api_base=refused_url)
    connector = closing(StripeRefundConnector(settings))

    with pytest.raises(RetryableDeliveryError, match="APIConnectionError"):
        connector.deliver(make_action("stripe_refund", payload=payload_for(charge_id="ch_x")))


def test_without_an_api_key_it_is_not_configured(make_settings, make_action):
    with pytest.raises(ConnectorNotConfigured, match="STRIPE_API_KEY"):
        StripeRefundConnector(make_settings()).deliver(make_action("stripe_refund"))


# The mapping for answers localstripe cannot produce (429, 5xx, 409), fed with the SDK's own error types.
@pytest.mark.parametrize(
    ("error", "expected", "retry_after"),
    [
        (
            stripe.RateLimitError("slow down", http_status=429, headers={"retry-after": "3"}),
            RetryableDeliveryError,
            3.0,
        ),
        (stripe.RateLimitError("slow down", http_status=429), RetryableDeliveryError, None),
        (stripe.APIConnectionError("reset by peer"), RetryableDeliveryError, None),
        (stripe.APIError("boom", http_status=500), RetryableDeliveryError, None),
        (stripe.APIError("boom", http_status=503, headers={"Retry-After": "8"}), RetryableDeliveryError, 8.0),
        (stripe.APIError("key in use", http_status=409), RetryableDeliveryError, None),
        (stripe.APIError("odd", http_status=405), PermanentDeliveryError, None),
        (
            stripe.InvalidRequestError("no such charge", "charge", http_status=404),
            PermanentDeliveryError,
            None,
        ),
        (
            stripe.CardError("declined", "card", "card_declined", http_status=402),
            PermanentDeliveryError,
            None,
        ),
        (stripe.AuthenticationError("bad key", http_status=401), PermanentDeliveryError, None),
        (stripe.PermissionError("not yours", http_status=403), PermanentDeliveryError, None),
        (stripe.IdempotencyError("key reused", http_status=400), PermanentDeliveryError, None),
        (
            stripe.InvalidRequestError(
                "lock", None, http_status=400, headers={"Stripe-Should-Retry": "true"}
            ),
            RetryableDeliveryError,
            None,
        ),
        (
            stripe.APIError("no", http_status=500, headers={"Stripe-Should-Retry": "false"}),
            PermanentDeliveryError,
            None,
        ),
    ],
)
def test_stripe_errors_map_onto_delivery_errors(error, expected, retry_after):
    translated = translate_stripe_error(error)

    assert type(translated) is expected
    if expected is RetryableDeliveryError:
        assert translated.retry_after == retry_after
