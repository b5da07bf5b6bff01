"""Named leases: the worker that holds 'scheduler' runs the scheduled jobs (leader election); the run that holds
'retrain:<model>' is the one retrain of that model going."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import leases_table as leases

__all__ = ["acquire_lease", "lease_holder", "release_lease"]


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


def lease_holder(conn: Connection, name: str, now: datetime) -> str | None:
    """lease_holder: who holds a named lease that has not expired (None: nobody)."""
    return conn.execute(select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at >= now)
                        ).scalar_one_or_none()


def release_lease(conn: Connection, name: str, holder: str) -> None:
    """release_lease: give a named lease up, if it is still ours."""
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
