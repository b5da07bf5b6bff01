"""Principals, hashed tokens and sign-in. Who may do what is decided in domain/permissions.py, not here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from reviewqueue.db import principals
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.services.context import AppContext

__all__ = ["Actor", "authenticate", "create_principal", "hash_password", "hash_token", "issue_token",
           "principal_id", "revoke_token", "sign_in", "verify_password"]
TOKEN_PREFIX = "rq_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, salt_hex, _ = stored.split("$")
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt_hex)), stored)


def create_principal(
    ctx: AppContext, name: str, role: Role, queues: list[str] | None = None, password: str | None = None
) -> int:
    if not name or len(name) > 120:
        raise ValidationFailed("name: 1 to 120 characters", field="name")
    check_storable(name, "name")
    check_storable(list(queues or []), "queues")
    if password is not None:
        check_storable(password, "password")
    values = {
        "name": name, "role": role.value, "queues": list(queues or []),
        "password_hash": hash_password(password) if password else None, "created_at": ctx.now(),
        "disabled": False,
    }
    try:
        with ctx.engine.begin() as conn:
            return principals.insert_principal(conn, values)
    except IntegrityError:
        raise Conflict(f"principal {name!r} already exists", field="name") from None


def principal_id(ctx: AppContext, name: str) -> int:
    """The id of the principal called ``name``; NotFound otherwise."""
    with ctx.read() as conn:
        row = principals.principal_by_name(conn, name)
    if row is None:
        raise NotFound(f"no principal named {name!r}", field="name")
    return row.id


def issue_token(ctx: AppContext, principal_id: int, label: str = "", ttl_hours: int | None = None) -> str:
    """Create a token; only its hash is stored, the clear text is returned once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.now()
    expires = now + timedelta(hours=ttl_hours) if ttl_hours else None
    with ctx.engine.begin() as conn:
        principals.insert_token(conn, principal_id, hash_token(token), label, now, expires)
    return token


def authenticate(ctx: AppContext, token: str | None) -> Actor:
    if not token:
        raise Unauthorized()
    with ctx.read() as conn:
        row = principals.holder_of_token(conn, hash_token(token))
    if row is None or (row.expires_at is not None and row.expires_at < ctx.now()):
        raise Unauthorized("the token is unknown, revoked or expired")
    return Actor(row.id, row.name, Role(row.role), tuple(row.queues))


def sign_in(ctx: AppContext, name: str, password: str) -> tuple[str, Actor]:
    """Check a password and issue a session token that expires after settings.session_hours."""
    with ctx.read() as conn:
        row = principals.principal_by_name(conn, name)
    if row is None or row.disabled or not row.password_hash or not verify_password(password, row.password_hash):
        raise Unauthorized("unknown user or wrong password")
    token = issue_token(ctx, row.id, label="sign-in", ttl_hours=ctx.settings.session_hours)
    return token, Actor(row.id, row.name, Role(row.role), tuple(row.queues))


def revoke_token(ctx: AppContext, token: str) -> None:
    with ctx.engine.begin() as conn:
        principals.revoke_token(conn, hash_token(token))
