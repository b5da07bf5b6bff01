"""Events pushed by business systems as signed webhooks (Standard Webhooks: HMAC-SHA256 over
``id.timestamp.body``, timestamps within ±5 minutes), stored once by their webhook-id.

Ingest is idempotent on external_id, so the order is: refuse bad signatures → answer a known event id as a
duplicate → ingest → record the event id. A crash between the last two is healed by the sender's retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from reviewqueue.db import events
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import NotEnabled, SignatureInvalid, ValidationFailed
from reviewqueue.schemas import InboundAck
from reviewqueue.services import ingest
from reviewqueue.services.context import AppContext

log = logging.getLogger(__name__)
# The signature is the credential: a verified event acts with the integration role's permissions.
WEBHOOK_ACTOR = Actor(id=0, name="webhook", role=Role.INTEGRATION, queues=())


def verify(ctx: AppContext, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    secret = ctx.settings.inbound_webhook_secret
    if secret is None:
        raise NotEnabled("signed event webhooks are not enabled: set REVIEWQUEUE_INBOUND_WEBHOOK_SECRET")
    wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    missing = [k for k, v in wanted.items() if not v]
    if missing:
        raise SignatureInvalid(f"{missing[0]}: header missing", field=missing[0])
    if len(wanted["webhook-id"]) > events.EVENT_ID_MAX_LENGTH:  # refused before anything is ingested or stored
        raise ValidationFailed(f"webhook-id: at most {events.EVENT_ID_MAX_LENGTH} characters "
                               f"(got {len(wanted['webhook-id'])})", field="webhook-id")
    try:
        payload = Webhook(secret.get_secret_value()).verify(body, wanted)
    except WebhookVerificationError as exc:
        raise SignatureInvalid(f"webhook-signature: {exc}", field="webhook-signature") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed("body: not UTF-8 JSON", field="body") from None
    except (ValueError, TypeError) as exc:  # the library raises these on junk headers
        raise SignatureInvalid(f"webhook-signature: malformed ({exc})", field="webhook-signature") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("body: expected an object with 'events'", field="body")
    return payload


def receive(ctx: AppContext, model_name: str, event_id: str, payload: dict[str, Any]) -> InboundAck:
    provider = f"events:{model_name}"
    ctx.registry.model(model_name)
    with ctx.read() as conn:
        seen = events.event_seen(conn, provider, event_id)
    if seen:
        return InboundAck(received=True, duplicate=True, event_id=event_id, predictions=[])
    results = ingest.ingest(ctx, WEBHOOK_ACTOR, model_name, payload.get("events"))
    summary = {"n_events": len(results), "external_ids": [r.external_id for r in results][:1000]}
    try:
        with ctx.engine.begin() as conn:
            events.insert_event(conn, provider, event_id, "events", summary, ctx.now(),
                                outcome=f"ingested {len(results)}")
    except IntegrityError:
        return InboundAck(received=True, duplicate=True, event_id=event_id, predictions=[])
    return InboundAck(received=True, duplicate=False, event_id=event_id, predictions=results)
