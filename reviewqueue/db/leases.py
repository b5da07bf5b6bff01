"""Named leases (leader election): the worker that holds 'scheduler' runs the scheduled jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import leases_table as leases

__all__ = ["acquire_lease"]


def acquire_lease(conn: Connection, name: str, holder: str, now: datetime, seconds: int) -> bool:
    """acquire_lease: take or renew a named lease if it is free, expired, or already ours (leader election)."""
    expires = now + timedelta(seconds=seconds)
    taken = conn.execute(
        update(leases)
        .where(leases.c.name == name, (leases.c.holder == holder) | (leases.c.expires_at < now))
        .values(holder=holder, expires_at=expires)
    ).rowcount
    if taken:
        return True
    exists = conn.execute(select(func.count()).select_from(leases).where(leases.c.name == name)).scalar_one()
    if exists:
        return False
    conn.execute(leases.insert().values(name=name, holder=holder, expires_at=expires))
    return True
