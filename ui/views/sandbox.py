"""Sandbox: what the demo's local Slack and webhook receivers got, the refunds at localstripe and the banned
users of the demo business database, so each decision's effects are visible; and a demo chargeback.

A dev page: it reads the sandboxes directly (the sink over HTTP, localstripe through the Stripe SDK, the business
database with sqlite3, read-only); it reaches the API only through the client, as Stripe would (a signed
``charge.dispute.created``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import streamlit as st
import stripe

from reviewqueue.client import Client
from reviewqueue.settings import Settings
from ui import format as fmt
from ui import session


def stripe_objects(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(charges, refunds) at the configured localstripe, newest first."""
    key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
    http = stripe.HTTPXClient(timeout=5, allow_sync_methods=True)
    try:
        sdk = stripe.StripeClient(key, base_addresses={"api": str(settings.stripe_api_base).rstrip("/")},
                                  max_network_retries=0, http_client=http)
        charges = [c.to_dict() for c in sdk.v1.charges.list(params={"limit": 100}).auto_paging_iter()]
        refunds = [r.to_dict() for r in sdk.v1.refunds.list(params={"limit": 100}).auto_paging_iter()]
    finally:
        http.close()
    return charges, refunds


def banned_users(database_url: str) -> list[dict[str, Any]] | None:
    """The demo business database's banned users (SQLite, opened read-only); None for another database."""
    if not database_url.startswith("sqlite:///"):
        return None
    uri = Path(database_url.removeprefix("sqlite:///")).resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT id, email, banned_reason, banned_by FROM users WHERE banned = 1 ORDER BY id")
        return [dict(row) for row in rows]


def signed_dispute(charge: str, secret: str) -> tuple[bytes, str]:
    """A ``charge.dispute.created`` event for ``charge`` and its Stripe-Signature (t=…,v1=HMAC-SHA256)."""
    now = int(time.time())
    event_id = f"evt_demo_{uuid.uuid4().hex[:16]}"
    body = json.dumps({"id": event_id, "object": "event", "type": "charge.dispute.created", "created": now,
                       "data": {"object": {"id": f"dp_{event_id}", "object": "dispute", "charge": charge,
                                           "reason": "fraudulent", "status": "needs_response"}}}).encode()
    mac = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={mac}"


def stripe_section(api: Client, settings: Settings) -> None:
    st.subheader("Stripe (localstripe)")
    try:
        charges, refunds = stripe_objects(settings)
    except stripe.StripeError as exc:
        st.warning(f"localstripe at {fmt.md(settings.stripe_api_base)} is not answering ({fmt.md(exc)}).",
                   icon=":material/cloud_off:")
        return
    st.metric("Refunds", len(refunds))
    if refunds:
        st.dataframe([{"refund": str(r.get("id", "")), "charge": str(r.get("charge", "")),
                       "amount (minor units)": r.get("amount"), "currency": str(r.get("currency", "")),
                       "status": str(r.get("status", ""))} for r in refunds], hide_index=True, width="stretch")
    else:
        st.caption("No refunds yet: decide an item as fraud (its actions wait out the undo window).")
    st.markdown("**Send a demo chargeback**: Stripe's signed `charge.dispute.created` for a charge, to the API.")
    charge = st.selectbox("Charge", [str(c.get("id", "")) for c in charges], key="sandbox-dispute-charge")
    if st.button("Send a demo chargeback", key="sandbox-dispute", icon=":material/gavel:", disabled=not charge):
        secret = settings.stripe_webhook_secret
        if secret is None or not secret.get_secret_value():
            st.warning("No Stripe webhook secret configured (REVIEWQUEUE_STRIPE_WEBHOOK_SECRET).")
            return
        body, signature = signed_dispute(str(charge), secret.get_secret_value())
        ack = session.call(api.stripe_webhook, body, signature)
        if ack is not None:
            st.success(f"Chargeback {fmt.md(ack.event_id)} sent: {fmt.md(ack.outcome or 'received')}",
                       icon=":material/check:")


api, _ = session.require()
url = session.sandbox_url()
st.title("Sandbox")
st.caption("The demo sends Slack messages and webhooks to a local sink instead of the real services.")
if url is None:
    st.info("No sandbox configured (REVIEWQUEUE_SANDBOX_URL).")
    st.stop()

st.button("Refresh", key="sandbox-refresh", icon=":material/refresh:")
received: dict[str, Any] | None = None
try:
    response = httpx.get(f"{url.rstrip('/')}/sandbox/messages", timeout=3)
    response.raise_for_status()
    received = response.json()
except (httpx.HTTPError, ValueError) as exc:
    st.warning(f"The sandbox at {fmt.md(url)} is not answering ({fmt.md(exc)}). It starts with `reviewqueue run`.",
               icon=":material/cloud_off:")

if received is not None:
    slack = list(received.get("slack") or [])
    hooks = list(received.get("webhooks") or [])
    left, right = st.columns(2)
    left.metric("Slack messages", len(slack))
    right.metric("Webhooks received", len(hooks))
    st.subheader("Slack")
    if slack:
        st.dataframe(list(reversed(fmt.slack_rows(slack))), hide_index=True, width="stretch")
    else:
        st.caption("No Slack messages yet: decide an item as fraud (its actions wait out the undo window).")
    st.subheader("Webhooks")
    if hooks:
        st.dataframe(list(reversed(fmt.webhook_rows(hooks))), hide_index=True, width="stretch")
        for hook in list(reversed(hooks))[:10]:
            with st.expander(f"Payload of {fmt.md(hook.get('webhook_id', ''))}"):
                st.json(hook.get("payload"))
    else:
        st.caption("No webhooks yet: every verdict sends one.")

settings = session.settings()
if settings.stripe_api_base:
    stripe_section(api, settings)

if settings.business_db_url or settings.business_db_hint:
    st.subheader("Business database")
    if settings.business_db_url:
        try:
            banned = banned_users(settings.business_db_url)
        except sqlite3.Error as exc:
            st.warning(f"The business database cannot be read ({fmt.md(exc)}).", icon=":material/database:")
            banned = None
        if banned is not None:
            st.metric("Banned users", len(banned))
            if banned:
                st.dataframe(banned, hide_index=True, width="stretch")
            else:
                st.caption("No banned users yet: decide an item as fraud (its actions wait out the undo window).")
    if hint := settings.business_db_hint:
        st.info(hint, icon=":material/database:")
