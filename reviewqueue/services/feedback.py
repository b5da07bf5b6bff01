"""Delayed feedback: verified Stripe webhooks, stored once by event id, turned into chargeback labels.

A dispute arrives weeks after the decision, or for a transaction nobody reviewed: either way it labels the
prediction whose correlation key (the charge id) matches.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from reviewqueue.db import events, predictions
from reviewqueue.domain.states import LabelSource
from reviewqueue.errors import NotEnabled, SignatureInvalid, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.schemas import WebhookAck
from reviewqueue.services.context import AppContext
from reviewqueue.services.outcomes import label_prediction

log = logging.getLogger(__name__)


def verify_stripe(ctx: AppContext, body: bytes, header: str | None) -> dict[str, Any]:
    """Check the Stripe-Signature over the raw body; refuse stale AND future-dated timestamps."""
    secret = ctx.settings.stripe_webhook_secret
    if secret is None:
        raise NotEnabled("Stripe webhooks are not enabled: set REVIEWQUEUE_STRIPE_WEBHOOK_SECRET")
    tolerance = ctx.settings.stripe_webhook_tolerance_seconds
    try:
        text = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, header, secret.get_secret_value(), tolerance=tolerance)
    except UnicodeDecodeError:
        raise SignatureInvalid("body: not UTF-8", field="body") from None
    except stripe.SignatureVerificationError as exc:
        raise SignatureInvalid(f"Stripe-Signature: {exc.user_message or exc}", field="Stripe-Signature") from None
    # stripe-python reads t= with int(), which also takes "+N", " N", "1_0…" and non-ASCII digits, and signs
    # over the parsed number: the same signature then passes with a spelling no check below recognises.
    timestamp = stripe_timestamp(header or "")
    # stripe-python accepts timestamps far in the future; a replayable pre-signed event is refused here.
    if timestamp > time.time() + tolerance:
        raise SignatureInvalid("Stripe-Signature: timestamp is in the future", field="Stripe-Signature")
    try:
        event = json.loads(text)
    except ValueError:
        raise ValidationFailed("body: not JSON", field="body") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise ValidationFailed("body: a Stripe event needs string 'id' and 'type'", field="body")
    if len(event["id"]) > events.EVENT_ID_MAX_LENGTH:
        raise ValidationFailed(f"body.id: at most {events.EVENT_ID_MAX_LENGTH} characters", field="body.id")
    return check_storable(event, "body")  # stored whole: no NUL, lone surrogate, NaN or integer beyond int64


_DIGITS = re.compile(r"[0-9]{1,12}")


def stripe_timestamp(header: str) -> int:
    """The one ``t=`` of a Stripe-Signature, written as ASCII digits only; anything else is refused (400)."""
    values = [part.partition("=")[2] for part in header.split(",") if part.partition("=")[0].strip() == "t"]
    if len(values) != 1 or _DIGITS.fullmatch(values[0]) is None:
        raise SignatureInvalid("Stripe-Signature: the timestamp t= must appear once, as ASCII digits",
                               field="Stripe-Signature")
    return int(values[0])


def record_stripe_event(ctx: AppContext, event: dict[str, Any]) -> WebhookAck:
    """Store the event once (unique on its id) and apply it, in one commit. A duplicate is a no-op."""
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            event_row_id = events.insert_event(conn, "stripe", event["id"], event["type"], event, now)
            outcome = _apply(ctx, conn, event, event_row_id)
            events.set_event_outcome(conn, event_row_id, outcome)
    except IntegrityError:
        log.info("duplicate stripe event", extra={"action": "stripe_event_duplicate", "event_id": event["id"]})
        return WebhookAck(received=True, duplicate=True, event_id=event["id"])
    log.info("stripe event stored", extra={"action": "stripe_event_stored", "event_id": event["id"],
                                           "outcome": outcome})
    return WebhookAck(received=True, duplicate=False, event_id=event["id"], outcome=outcome)


def _apply(ctx: AppContext, conn: Connection, event: dict[str, Any], event_row_id: int) -> str:
    obj = ((event.get("data") or {}).get("object")) or {}
    if event["type"] == "charge.dispute.created":
        verdict_of = "positive"
    elif event["type"] == "charge.dispute.closed" and obj.get("status") == "won":
        verdict_of = "negative"  # the merchant won the dispute: the charge was legitimate
    else:
        return "ignored"
    charge = obj.get("charge")
    if not isinstance(charge, str):
        return "no charge in event"
    labelled = 0
    for spec in ctx.registry.models():
        if not spec.correlation_field:
            continue
        prediction_id = predictions.prediction_by_correlation_key(conn, spec.name, charge)
        if prediction_id is None:
            continue
        value = spec.positive_verdict if verdict_of == "positive" else spec.negative_verdict
        # a dispute is observed whoever reviewed the charge: observed with probability 1
        label_prediction(conn, spec, prediction_id, value, LabelSource.CHARGEBACK, actor=f"stripe:{event['id']}",
                         event_row_id=event_row_id, occurred_at=_event_time(ctx, event), observed_probability=1.0)
        labelled += 1
    return f"labelled {labelled} prediction(s)" if labelled else f"no prediction for charge {charge}"


def _event_time(ctx: AppContext, event: dict[str, Any]) -> datetime:
    """When Stripe says the event happened: events arrive out of order, and the latest fact must win."""
    created = event.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created < 2**33:
        return datetime.fromtimestamp(created, UTC)
    return ctx.now()
