"""Sign Stripe webhook bodies the way Stripe does (t=…,v1=HMAC-SHA256(secret, "t.body"))."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

WEBHOOK_SECRET = "whsec_test_reviewqueue"


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def dispute_event(event_id: str, charge: str, kind: str = "charge.dispute.created", **obj: Any) -> bytes:
    event = {
        "id": event_id, "object": "event", "type": kind, "created": int(time.time()),
        "data": {"object": {"id": f"dp_{event_id}", "object": "dispute", "charge": charge,
                            "reason": "fraudulent", "status": "needs_response", **obj}},
    }
    return json.dumps(event).encode()
