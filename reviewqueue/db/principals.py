"""Principals and their API tokens (stored as SHA-256 only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import principals_table as principals
from reviewqueue.db.tables import tokens_table as tokens

__all__ = ["PrincipalRow", "TokenHolder", "TokenRow", "holder_changes", "holder_of_token", "insert_principal",
           "insert_token",
           "list_tokens", "principal_by_name", "revoke_principal_tokens", "revoke_token", "revoke_token_by_id",
           "set_disabled", "token_by_id"]


# Writes in this process that can stop a token from working (revocations, disabling a principal). A cache of
# token holders (services.auth) keyed on this count drops its entries the moment such a write runs here.
_holder_changes = 0


def holder_changes() -> int:
    """holder_changes: how many revocations and disablings this process has written (not committed: a read
    racing the write's commit can still see the old state)."""
    return _holder_changes


def _changed() -> None:
    global _holder_changes
    _holder_changes += 1


class PrincipalRow(NamedTuple):
    id: int
    name: str
    role: str
    queues: list[str]
    password_hash: str | None
    disabled: bool


class TokenHolder(NamedTuple):
    id: int
    name: str
    role: str
    queues: list[str]
    expires_at: datetime | None


class TokenRow(NamedTuple):
    id: int
    principal_id: int
    principal: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    revoked_at: datetime | None


def insert_principal(conn: Connection, values: dict[str, Any]) -> int:
    """insert_principal: add a person or system; a duplicate name raises IntegrityError."""
    return int(conn.execute(principals.insert().values(**values).returning(principals.c.id)).scalar_one())


def insert_token(conn: Connection, principal_id: int, token_hash: str, label: str, created_at: datetime,
                 expires_at: datetime | None) -> int:
    """insert_token: store a new token's hash for a principal; its id."""
    return int(conn.execute(tokens.insert().values(principal_id=principal_id, token_hash=token_hash, label=label,
                                                   created_at=created_at, expires_at=expires_at, revoked=False)
                            .returning(tokens.c.id)).scalar_one())


_HOLDER = (
    select(principals.c.id, principals.c.name, principals.c.role, principals.c.queues, tokens.c.expires_at)
    .join(tokens, tokens.c.principal_id == principals.c.id)
)


def holder_of_token(conn: Connection, token_hash: str) -> TokenHolder | None:
    """holder_of_token: the enabled principal a live (unrevoked) token belongs to, with the token's expiry."""
    row = conn.execute(_HOLDER.where(tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False),
                                     principals.c.disabled.is_(False))).first()
    return TokenHolder(row.id, row.name, row.role, list(row.queues or ()), row.expires_at) if row else None


def principal_by_name(conn: Connection, name: str) -> PrincipalRow | None:
    """principal_by_name: one principal with its password hash, by name."""
    row = conn.execute(select(principals.c.id, principals.c.name, principals.c.role, principals.c.queues,
                              principals.c.password_hash, principals.c.disabled)
                       .where(principals.c.name == name)).first()
    return PrincipalRow(row.id, row.name, row.role, list(row.queues or ()), row.password_hash,
                        bool(row.disabled)) if row else None


def revoke_token(conn: Connection, token_hash: str, now: datetime | None = None) -> int | None:
    """revoke_token: a token stops working at once; its id, or None if no live token has this hash."""
    _changed()
    return conn.execute(tokens.update().where(tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False))
                        .values(revoked=True, revoked_at=now).returning(tokens.c.id)).scalar()


def revoke_token_by_id(conn: Connection, token_id: int, now: datetime) -> bool:
    """revoke_token_by_id: a token stops working at once; False if it was already revoked or does not exist."""
    _changed()
    done = conn.execute(tokens.update().where(tokens.c.id == token_id, tokens.c.revoked.is_(False))
                        .values(revoked=True, revoked_at=now))
    return bool(done.rowcount)


def revoke_principal_tokens(conn: Connection, principal_id: int, now: datetime) -> int:
    """revoke_principal_tokens: every live token of a principal stops working; how many."""
    _changed()
    done = conn.execute(tokens.update().where(tokens.c.principal_id == principal_id, tokens.c.revoked.is_(False))
                        .values(revoked=True, revoked_at=now))
    return int(done.rowcount)


def set_disabled(conn: Connection, principal_id: int, disabled: bool) -> None:
    """set_disabled: a disabled principal's tokens and password stop working (holder_of_token, sign-in)."""
    _changed()
    conn.execute(principals.update().where(principals.c.id == principal_id).values(disabled=disabled))


_TOKENS = (
    select(tokens.c.id, tokens.c.principal_id, principals.c.name.label("principal"), tokens.c.label,
           tokens.c.created_at, tokens.c.expires_at, tokens.c.revoked, tokens.c.revoked_at)
    .join(principals, principals.c.id == tokens.c.principal_id)
)


def list_tokens(conn: Connection, principal_id: int | None, limit: int) -> list[TokenRow]:
    """list_tokens: tokens newest first (never their hashes), of one principal or of everyone."""
    query = _TOKENS.order_by(tokens.c.id.desc()).limit(limit)
    if principal_id is not None:
        query = query.where(tokens.c.principal_id == principal_id)
    return [TokenRow(*r) for r in conn.execute(query)]


def token_by_id(conn: Connection, token_id: int) -> TokenRow | None:
    """token_by_id: one token (never its hash) with its holder's name."""
    row = conn.execute(_TOKENS.where(tokens.c.id == token_id)).first()
    return TokenRow(*row) if row else None
