"""Principals, hashed tokens, sign-in and the authorization rules (who may touch which queue)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from reviewqueue.db.tables import ApiToken, Principal
from reviewqueue.domain.states import Role
from reviewqueue.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from reviewqueue.services.context import AppContext

principals = Principal.__table__  # type: ignore[attr-defined]
tokens = ApiToken.__table__  # type: ignore[attr-defined]
TOKEN_PREFIX = "rq_"


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of a use case."""

    id: int
    name: str
    role: Role
    queues: tuple[str, ...]

    def can_review(self, queue: str) -> bool:
        return self.role == Role.ADMIN or (self.role == Role.REVIEWER and queue in self.queues)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role {self.role.value!r} may not do this (needs one of: {allowed})")

    def require_queue(self, queue: str) -> None:
        if not self.can_review(queue):
            raise Forbidden(f"not allowed to review queue {queue!r}", field="queue")


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
    values = {
        "name": name, "role": role.value, "queues": list(queues or []),
        "password_hash": hash_password(password) if password else None, "created_at": ctx.now(),
        "disabled": False,
    }
    try:
        with ctx.engine.begin() as conn:
            return int(conn.execute(principals.insert().values(**values).returning(principals.c.id)).scalar_one())
    except IntegrityError:
        raise Conflict(f"principal {name!r} already exists", field="name") from None


def issue_token(ctx: AppContext, principal_id: int, label: str = "", ttl_hours: int | None = None) -> str:
    """Create a token; only its hash is stored, the clear text is returned once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = ctx.now() + timedelta(hours=ttl_hours) if ttl_hours else None
    with ctx.engine.begin() as conn:
        conn.execute(tokens.insert().values(
            principal_id=principal_id, token_hash=hash_token(token), label=label, created_at=ctx.now(),
            expires_at=expires, revoked=False,
        ))
    return token


def authenticate(ctx: AppContext, token: str | None) -> Actor:
    if not token:
        raise Unauthorized()
    query = (
        select(principals.c.id, principals.c.name, principals.c.role, principals.c.queues, tokens.c.expires_at)
        .join(tokens, tokens.c.principal_id == principals.c.id)
        .where(tokens.c.token_hash == hash_token(token), tokens.c.revoked.is_(False),
               principals.c.disabled.is_(False))
    )
    with ctx.read() as conn:
        row = conn.execute(query).first()
    if row is None or (row.expires_at is not None and row.expires_at < ctx.now()):
        raise Unauthorized("the token is unknown, revoked or expired")
    return Actor(row.id, row.name, Role(row.role), tuple(row.queues or ()))


def sign_in(ctx: AppContext, name: str, password: str) -> tuple[str, Actor]:
    """Check a password and issue a session token that expires after settings.session_hours."""
    with ctx.read() as conn:
        row = conn.execute(select(principals).where(principals.c.name == name)).first()
    if row is None or row.disabled or not row.password_hash or not verify_password(password, row.password_hash):
        raise Unauthorized("unknown user or wrong password")
    token = issue_token(ctx, row.id, label="sign-in", ttl_hours=ctx.settings.session_hours)
    return token, Actor(row.id, row.name, Role(row.role), tuple(row.queues or ()))


def revoke_token(ctx: AppContext, token: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(tokens.update().where(tokens.c.token_hash == hash_token(token)).values(revoked=True))
