"""Named leases: the worker that holds 'scheduler' runs the scheduled jobs (leader election); the run that holds
'retrain:<model>' is the one retrain of that model going; 'hold:<reviewer>:<item>' (fixed-width numbers) keeps
an item a reviewer released out of that reviewer's claims until it expires (services.queue.release), and an
item a reviewer voted on (four-eyes) out of their claims until its round is decided (services.decisions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import leases_table as leases

__all__ = ["acquire_lease", "delete_expired_release_holds", "delete_item_holds", "hold_released_item", "lease_holder",
           "release_hold_name", "release_hold_range", "release_lease"]


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


# Fixed-width numbers: every hold of one reviewer sorts between the two bounds of release_hold_range under any
# collation (digits compare digit by digit), so the primary key's index finds them with one range scan.
_HOLD_DIGITS = 12


def release_hold_name(principal_id: int, item_id: int) -> str:
    """The lease that keeps ``item_id`` out of ``principal_id``'s claims."""
    return f"hold:{principal_id:0{_HOLD_DIGITS}d}:{item_id:0{_HOLD_DIGITS}d}"


def release_hold_range(principal_id: int) -> tuple[str, str]:
    """[low, high) of the names of one reviewer's release holds."""
    return f"hold:{principal_id:0{_HOLD_DIGITS}d}:", f"hold:{principal_id + 1:0{_HOLD_DIGITS}d}:"


def hold_released_item(conn: Connection, principal_id: int, item_id: int, until: datetime) -> None:
    """hold_released_item: keep a released item out of its releaser's claims until ``until`` (set or extend)."""
    name = release_hold_name(principal_id, item_id)
    if not conn.execute(update(leases).where(leases.c.name == name).values(expires_at=until)).rowcount:
        conn.execute(leases.insert().values(name=name, holder=str(principal_id), expires_at=until))


def delete_expired_release_holds(conn: Connection, principal_id: int, now: datetime) -> int:
    """delete_expired_release_holds: drop one reviewer's release holds that ran out (one primary-key range)."""
    low, high = release_hold_range(principal_id)
    return int(conn.execute(delete(leases).where(leases.c.name >= low, leases.c.name < high,
                                                 leases.c.expires_at < now)).rowcount)


def delete_item_holds(conn: Connection, principal_ids: Iterable[int], item_id: int) -> int:
    """delete_item_holds: drop these reviewers' holds on one item (its four-eyes round was decided)."""
    names = [release_hold_name(p, item_id) for p in principal_ids]
    if not names:
        return 0
    return int(conn.execute(delete(leases).where(leases.c.name.in_(names))).rowcount)
