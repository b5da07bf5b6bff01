"""Principals, hashed tokens and sign-in. Who may do what is decided in domain/permissions.py, not here."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy.exc import IntegrityError

from reviewqueue.db import principals
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.services.context import AppContext

__all__ = ["Actor", "authenticate", "cached_actor", "create_principal", "hash_password", "hash_token", "issue_token",
           "principal_id", "revoke_token", "sign_in", "verify_password"]
TOKEN_PREFIX = "rq_"
log = logging.getLogger(__name__)


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
    """The actor a token stands for: from this process's cache of token holders (TOKEN_CACHE_SECONDS), else
    from the database; Unauthorized if unknown, revoked, expired or its principal disabled."""
    if not token:
        raise Unauthorized()
    digest = hash_token(token)
    generation = principals.holder_changes()  # read before the row, so a write in between is not cached over
    row = ctx.token_holders.get(digest, generation)
    if row is None:
        with ctx.read() as conn:
            row = principals.holder_of_token(conn, digest)
        if row is not None:  # unknown tokens are not kept: guessing cannot fill the cache
            ctx.token_holders.put(digest, row, generation)
    return _live(ctx, row)


def cached_actor(ctx: AppContext, token: str | None) -> Actor | None:
    """The actor for a token this process looked up moments ago, without I/O (the API checks it on the event
    loop before handing a cache miss to authenticate on a worker thread); None when not cached."""
    row = ctx.token_holders.get(hash_token(token), principals.holder_changes()) if token else None
    return _live(ctx, row) if row is not None else None


def _live(ctx: AppContext, row: principals.TokenHolder | None) -> Actor:
    if row is None or (row.expires_at is not None and row.expires_at < ctx.now()):
        raise Unauthorized("the token is unknown, revoked or expired")
    return Actor(row.id, row.name, Role(row.role), tuple(row.queues))


@cache
def _dummy_hash() -> str:
    """A password hash no password matches: checked for unknown, disabled or password-less names, so a refusal
    costs the same scrypt work (and time) whether or not the name exists."""
    return hash_password(secrets.token_urlsafe(16))


def sign_in(ctx: AppContext, name: str, password: str, address: str = "") -> tuple[str, Actor]:
    """Check a password and issue a session token that expires after settings.session_hours.

    Throttled before any hashing (so a flood stays cheap): at most ``sign_in_failures_per_name`` failures per
    name and ``sign_in_attempts_per_address`` attempts per client address within ``sign_in_window_seconds``,
    then 429 with Retry-After. The windows live in this process (``ctx.sign_in_attempts``)."""
    s = ctx.settings
    now, window = ctx.now().timestamp(), float(s.sign_in_window_seconds)
    by_name, by_address = f"name:{name.casefold()}", f"address:{address}"
    attempts = ctx.sign_in_attempts
    wait = max(attempts.wait(by_name, now, s.sign_in_failures_per_name, window),
               attempts.wait(by_address, now, s.sign_in_attempts_per_address, window))
    if wait:
        log.warning("sign-in throttled", extra={"action": "sign_in_throttled", "address": address})
        raise TooManyRequests(f"too many sign-in attempts; try again in {wait} s", retry_after=wait)
    attempts.add(by_address, now, window)
    with ctx.read() as conn:
        row = principals.principal_by_name(conn, name)
    stored = row.password_hash if row is not None and not row.disabled else None
    matches = verify_password(password, stored or _dummy_hash())
    if row is None or not stored or not matches:
        attempts.add(by_name, now, window)
        raise Unauthorized("unknown user or wrong password")
    attempts.clear(by_name)
    token = issue_token(ctx, row.id, label="sign-in", ttl_hours=s.session_hours)
    return token, Actor(row.id, row.name, Role(row.role), tuple(row.queues))


def revoke_token(ctx: AppContext, token: str) -> None:
    """Sign-out: the token stops working at once (server side)."""
    with ctx.engine.begin() as conn:
        principals.revoke_token(conn, hash_token(token), ctx.now())
