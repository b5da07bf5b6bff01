"""Tokens and principals managed after sign-up: list, issue with an expiry, revoke; disable and enable a
principal (which revokes their tokens at once). Every change is written to the audit log in its own commit."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from reviewqueue.db import principals
from reviewqueue.db.principals import TokenRow
from reviewqueue.domain.permissions import Actor, Permission, allowed, authorize
from reviewqueue.errors import Conflict, NotFound
from reviewqueue.schemas import PrincipalStatus, TokenIssued, TokenOut
from reviewqueue.services import audit
from reviewqueue.services.auth import TOKEN_PREFIX, hash_token
from reviewqueue.services.context import AppContext

__all__ = ["issue", "list_tokens", "revoke", "set_disabled", "token_out"]


def token_out(row: TokenRow, now: datetime) -> TokenOut:
    """The one place a token row becomes TokenOut (its hash is never read)."""
    expired = row.expires_at is not None and row.expires_at < now
    state = "revoked" if row.revoked else "expired" if expired else "active"
    return TokenOut(id=row.id, principal=row.principal, label=row.label, created_at=row.created_at,
                    expires_at=row.expires_at, revoked=row.revoked, revoked_at=row.revoked_at, state=state)


def _principal(conn: Connection, name: str) -> principals.PrincipalRow:
    row = principals.principal_by_name(conn, name)
    if row is None:
        raise NotFound(f"no principal named {name!r}", field="principal")
    return row


def list_tokens(ctx: AppContext, actor: Actor, name: str | None = None, limit: int = 200) -> list[TokenOut]:
    """Your own tokens; with users.manage (admins) everybody's, or ``name``'s."""
    everyone = allowed(actor, Permission.USERS_MANAGE)
    if name is not None and name != actor.name:
        authorize(actor, Permission.USERS_MANAGE)
    now = ctx.now()
    with ctx.read() as conn:
        if name is not None:
            whose: int | None = _principal(conn, name).id
        else:
            whose = None if everyone else actor.id
        rows = principals.list_tokens(conn, whose, limit)
    return [token_out(r, now) for r in rows]


def issue(ctx: AppContext, actor: Actor, label: str, ttl: timedelta | None, name: str | None = None,
          no_expiry: bool = False) -> TokenIssued:
    """A new token for you (or, with users.manage, for ``name``): expires after ``ttl``, by default after the
    ``token_days`` setting; never only when ``no_expiry`` is asked for explicitly (users.manage only)."""
    if (name is not None and name != actor.name) or no_expiry:
        authorize(actor, Permission.USERS_MANAGE)
    now = ctx.now()
    expires = None if no_expiry else now + (ttl or timedelta(days=ctx.settings.token_days))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ctx.engine.begin() as conn:
        holder = _principal(conn, name or actor.name)
        token_id = principals.insert_token(conn, holder.id, hash_token(token), label, now, expires)
        audit.record(ctx, conn, actor, "token.issue", f"principal:{holder.name}",
                     {"token_id": token_id, "label": label, "expires_at": expires.isoformat() if expires else None})
        row = principals.token_by_id(conn, token_id)
    assert row is not None
    return TokenIssued(token=token, info=token_out(row, now))


def revoke(ctx: AppContext, actor: Actor, token_id: int) -> TokenOut:
    """Revoke one of your tokens (with users.manage: anybody's); it stops working at once."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = principals.token_by_id(conn, token_id)
        if row is None or (row.principal_id != actor.id and not allowed(actor, Permission.USERS_MANAGE)):
            raise NotFound(f"token {token_id} not found", field="token_id")  # others' ids are not revealed
        if not principals.revoke_token_by_id(conn, token_id, now):
            raise Conflict(f"token {token_id} is already revoked", field="token_id")
        audit.record(ctx, conn, actor, "token.revoke", f"principal:{row.principal}",
                     {"token_id": token_id, "label": row.label})
        revoked = principals.token_by_id(conn, token_id)
    assert revoked is not None
    return token_out(revoked, now)


def set_disabled(ctx: AppContext, actor: Actor, name: str, disabled: bool) -> PrincipalStatus:
    """Disable (every token revoked at once, sign-in refused) or enable again (tokens stay revoked)."""
    authorize(actor, Permission.USERS_MANAGE)
    if disabled and name == actor.name:
        raise Conflict("you cannot disable yourself", field="principal")
    with ctx.engine.begin() as conn:
        row = _principal(conn, name)
        principals.set_disabled(conn, row.id, disabled)
        revoked = principals.revoke_principal_tokens(conn, row.id, ctx.now()) if disabled else 0
        audit.record(ctx, conn, actor, "user.disable" if disabled else "user.enable", f"principal:{name}",
                     {"tokens_revoked": revoked})
    return PrincipalStatus(name=row.name, role=row.role, disabled=disabled, tokens_revoked=revoked)
