"""Principals and their API tokens (stored as SHA-256 only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import principals_table as principals
from reviewqueue.db.tables import tokens_table as tokens

__all__ = ["PrincipalRow", "TokenHolder", "holder_of_token", "insert_principal", "insert_token",
           "principal_by_name", "revoke_token"]


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


def insert_principal(conn: Connection, values: dict[str, Any]) -> int:
    """insert_principal: add a person or system; a duplicate name raises IntegrityError."""
    return int(conn.execute(principals.insert().values(**values).returning(principals.c.id)).scalar_one())


def insert_token(conn: Connection, principal_id: int, token_hash: str, label: str, created_at: datetime,
                 expires_at: datetime | None) -> None:
    """insert_token: store a new token's hash for a principal."""
    conn.execute(tokens.insert().values(principal_id=principal_id, token_hash=token_hash, label=label,
                                        created_at=created_at, expires_at=expires_at, revoked=False))


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


def revoke_token(conn: Connection, token_hash: str) -> None:
    """revoke_token: a token stops working at once."""
    conn.execute(tokens.update().where(tokens.c.token_hash == token_hash).values(revoked=True))
