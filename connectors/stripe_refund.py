"""Refund a Stripe charge, exactly once per action.

Two guards make a retried action safe (DESIGN invariant 3):

1. the Idempotency-Key is the action id, so Stripe itself replays the first response for 24 h;
2. when a previous attempt may have reached Stripe (``outcome_unknown``, or simply any attempt after the
   first, since a list call is cheap), we first list the charge's refunds and return the one whose
   metadata carries this action id. This is what protects us where the key does not: after Stripe's
   24 h key window, and at localstripe, which ignores Idempotency-Key altogether.

stripe-python's own retries are switched off (``max_network_retries=0``): the outbox owns retry timing.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal, InvalidOperation
from typing import Any

import stripe

from connectors._retry_after import header, retry_after_seconds
from connectors.base import ActionContext, resolve_param
from reviewqueue.errors import (
    ConnectorNotConfigured,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from reviewqueue.settings import Settings

__all__ = ["METADATA_KEY", "StripeRefundConnector", "minor_units", "translate_stripe_error"]

log = logging.getLogger(__name__)

METADATA_KEY = "reviewqueue_action_id"
DEFAULT_CHARGE_PATH = "context.charge_id"
TIMEOUT_SECONDS = 30


class StripeRefundConnector:
    """Connector ``stripe_refund``. params (each a dotted path into the payload):

    - ``charge``: the charge id (default ``context.charge_id``);
    - ``amount``: the event's amount in major units (e.g. ``features.amount``): the refund is exactly this
      much, never more than the charge has left to refund (``rq.action`` requires it; without it, as in
      actions written before it existed, the charge is refunded in full);
    - ``currency``: the event's currency; the charge's must be the same;
    - ``match``: ``{"<charge field path>": "<context field or payload path>"}``, e.g.
      ``{"metadata.user_id": "user_id"}`` or ``{"customer": "context.customer_id"}``: each must be equal.

    Before refunding, the charge is read and checked against the event; a mismatch is a permanent refusal
    (the action goes dead with the reason, nothing is refunded), so an event cannot refund someone else's
    charge, or more than itself.
    """

    name = "stripe_refund"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: stripe.HTTPXClient | None = None
        self._lock = threading.Lock()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        client = self._stripe()
        charge = self._charge_id(action)
        try:
            if action.outcome_unknown or action.attempt > 1:
                existing = self._find_refund(client, charge, action.action_id)
                if existing is not None:
                    log.info(
                        "refund already exists for action",
                        extra={
                            "action": "refund_found",
                            "action_id": action.action_id,
                            "refund": existing.id,
                        },
                    )
                    return _outcome(existing)
            params: dict[str, Any] = {"charge": charge, "metadata": {METADATA_KEY: action.action_id}}
            amount = _checked_amount(action, client.v1.charges.retrieve(charge).to_dict())
            if amount is not None:
                params["amount"] = amount
            refund = client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": action.action_id},
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc) from exc
        log.info(
            "refund created",
            extra={"action": "refund_created", "action_id": action.action_id, "refund": refund.id},
        )
        return _outcome(refund)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._client = self._http = None

    # -- helpers -----------------------------------------------------------------------------------------

    def _stripe(self) -> stripe.StripeClient:
        key = self._settings.stripe_api_key
        if key is None or not key.get_secret_value():
            raise ConnectorNotConfigured("stripe_refund is not configured: set REVIEWQUEUE_STRIPE_API_KEY")
        with self._lock:
            if self._client is None:
                base = self._settings.stripe_api_base
                # One httpx client shared by the worker's threads, closable: the default requests-based
                # client keeps a session per thread that close() cannot reach.
                self._http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True)
                self._client = stripe.StripeClient(
                    key.get_secret_value(),
                    base_addresses={"api": base.rstrip("/")} if base else None,
                    max_network_retries=0,
                    http_client=self._http,
                )
            return self._client

    @staticmethod
    def _charge_id(action: ActionContext) -> str:
        path = action.params.get("charge", DEFAULT_CHARGE_PATH)
        try:
            charge = resolve_param(action.payload, path)
        except KeyError:
            raise PermanentDeliveryError(
                f"stripe_refund: the payload has no {path!r} (the charge id)"
            ) from None
        if not isinstance(charge, str) or not charge:
            raise PermanentDeliveryError(f"stripe_refund: {path!r} is not a charge id: {charge!r}")
        return charge

    @staticmethod
    def _find_refund(client: stripe.StripeClient, charge: str, action_id: str) -> stripe.Refund | None:
        """The charge's refund made by this action, if any (pages through every refund of the charge)."""
        page = client.v1.refunds.list(params={"charge": charge, "limit": 100})
        for refund in page.auto_paging_iter():
            # StripeObject is no longer a dict in stripe-python 16: read it through to_dict()
            metadata = refund.to_dict().get("metadata") or {}
            if metadata.get(METADATA_KEY) == action_id:
                return refund
        return None


# Currencies whose amounts Stripe counts in units other than hundredths (stripe.com/docs/currencies).
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                          "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def minor_units(amount: Any, currency: str) -> int:
    """``amount`` (major units, e.g. 20.5 USD) in the currency's smallest unit (2050); ValueError when it is not
    a number, is negative, or has more decimals than the currency."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        raise ValueError(f"{amount!r} is not a number")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a number") from None
    exponent = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    scaled = value.scaleb(exponent)
    if not scaled.is_finite() or scaled < 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} is not a non-negative amount of {currency.upper()}")
    return int(scaled)


def _checked_amount(action: ActionContext, charge: dict[str, Any]) -> int | None:
    """Check the charge against the event (currency, declared matches, amount); the amount to refund in the
    charge's minor units (None: the action declares no amount, refund in full). Raises PermanentDeliveryError
    naming the first mismatch."""
    def refuse(why: str) -> PermanentDeliveryError:
        return PermanentDeliveryError(f"stripe_refund: charge {charge.get('id')} does not match the event: {why}; "
                                      "nothing was refunded")

    currency = str(charge.get("currency") or "").lower()
    if "currency" in action.params:
        wanted = _event_value(action, action.params["currency"])
        if not isinstance(wanted, str) or wanted.lower() != currency:
            raise refuse(f"the charge is in {currency!r}, the event in {wanted!r}")
    for charge_path, event_path in (action.params.get("match") or {}).items():
        found = _charge_value(charge, charge_path)
        wanted = _event_value(action, event_path if "." in event_path else f"context.{event_path}")
        if wanted is None or found is None or str(found) != str(wanted):
            raise refuse(f"its {charge_path} is {found!r}, the event's {event_path} is {wanted!r}")
    if "amount" not in action.params:
        return None
    raw = _event_value(action, action.params["amount"])
    try:
        amount = minor_units(raw, currency)
    except ValueError as exc:
        raise refuse(f"the event's amount: {exc}") from None
    left = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
    if amount <= 0 or amount > left:
        raise refuse(f"the event's amount {raw} {currency.upper()} ({amount}) is not within the "
                     f"{left} the charge has left to refund")
    return amount


def _event_value(action: ActionContext, path: str) -> Any:
    try:
        return resolve_param(action.payload, path)
    except KeyError:
        return None


def _charge_value(charge: dict[str, Any], path: str) -> Any:
    node: Any = charge
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):  # an expanded object (e.g. customer): compare its id
        node = node.get("id")
    return node


def _outcome(refund: stripe.Refund) -> dict[str, Any]:
    data = refund.to_dict(for_json=True)
    charge = data.get("charge")
    if isinstance(charge, dict):  # expanded
        charge = charge.get("id")
    return {
        "refund_id": data["id"],
        "amount": data.get("amount"),
        "status": data.get("status"),
        "charge": charge,
    }


def translate_stripe_error(exc: stripe.StripeError) -> DeliveryError:
    """Map a stripe-python error onto our two delivery errors.

    Retryable: rate limits, connection errors (the request may or may not have landed; the next attempt
    looks before acting), 5xx and 409 (a concurrent request holds the idempotency key), and anything Stripe
    marks ``Stripe-Should-Retry: true``. Everything else (bad request, declined card, bad key, permission,
    idempotency-key reuse with other parameters) is permanent.
    """
    message = f"stripe: {type(exc).__name__}: {exc.user_message or exc}"
    retry_after = retry_after_seconds(exc.headers)
    should_retry = (header(exc.headers, "Stripe-Should-Retry") or "").lower()
    if should_retry == "false":
        return PermanentDeliveryError(message)
    if should_retry == "true" or isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return RetryableDeliveryError(message, retry_after=retry_after)
    if isinstance(exc, stripe.APIError) and not isinstance(exc, stripe.IdempotencyError):
        status = exc.http_status
        if status is None or status >= 500 or status == 409:
            return RetryableDeliveryError(message, retry_after=retry_after)
    return PermanentDeliveryError(message)
