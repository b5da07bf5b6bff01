"""The audit log of admin acts: appended to, read newest first; never updated or deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import audit_table as audit
from reviewqueue.schemas import AuditEntryOut

__all__ = ["append_entry", "latest_entry", "list_entries"]


def append_entry(conn: Connection, at: datetime, actor: str, actor_id: int | None, action: str, target: str,
                 detail: dict[str, Any]) -> None:
    """append_entry: record one admin act (in the act's own transaction)."""
    conn.execute(audit.insert().values(at=at, actor=actor, actor_id=actor_id, action=action, target=target[:200],
                                       detail=detail))


def list_entries(conn: Connection, before_id: int | None, limit: int, action: str | None = None
                 ) -> list[AuditEntryOut]:
    """list_entries: the audit log newest first, keyset-paged (ids below ``before_id``), optionally one action."""
    query = select(audit.c.id, audit.c.at, audit.c.actor, audit.c.actor_id, audit.c.action, audit.c.target,
                   audit.c.detail).order_by(audit.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit.c.id < before_id)
    if action:
        query = query.where(audit.c.action == action)
    return [AuditEntryOut.model_validate(r) for r in conn.execute(query)]


def latest_entry(conn: Connection, action: str, target: str) -> AuditEntryOut | None:
    """latest_entry: the newest record of one act on one target (e.g. an item's escalation), if any."""
    row = conn.execute(
        select(audit.c.id, audit.c.at, audit.c.actor, audit.c.actor_id, audit.c.action, audit.c.target,
               audit.c.detail).where(audit.c.action == action, audit.c.target == target)
        .order_by(audit.c.id.desc()).limit(1)).first()
    return AuditEntryOut.model_validate(row) if row else None
