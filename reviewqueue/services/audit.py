"""The audit log: every admin act (replay, retrain, promote, rollback, shadow, user and token changes) is
appended with who, what, target, when and details; admins read it newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from reviewqueue.db import audit
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.schemas import AuditEntryOut
from reviewqueue.services.context import AppContext

__all__ = ["entries", "record", "record_now"]


def record(ctx: AppContext, conn: Connection, actor: Actor, action: str, target: str,
           detail: dict[str, Any] | None = None) -> None:
    """Append an act inside the act's own transaction, so the act and its record commit together."""
    audit.append_entry(conn, ctx.now(), actor.name, actor.id or None, action, target, detail or {})


def record_now(ctx: AppContext, actor: Actor, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Append an act in a transaction of its own (for acts that commit in several steps, e.g. a retrain)."""
    with ctx.engine.begin() as conn:
        record(ctx, conn, actor, action, target, detail)


def entries(ctx: AppContext, actor: Actor, before_id: int | None, limit: int,
            action: str | None = None) -> list[AuditEntryOut]:
    """The audit log, newest first, keyset-paged by id."""
    authorize(actor, Permission.AUDIT_READ)
    with ctx.read() as conn:
        return audit.list_entries(conn, before_id, limit, action)
