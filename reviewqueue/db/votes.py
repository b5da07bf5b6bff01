"""Four-eyes votes: a reviewer's verdict that did not decide an item alone, open until the round's decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import votes_table as votes

__all__ = ["VoteRow", "close_open_votes", "insert_vote", "item_votes", "open_votes"]


class VoteRow(NamedTuple):
    id: int
    principal_id: int
    actor: str
    verdict: str
    note: str
    created_at: datetime
    decision_id: int | None


_COLUMNS = (votes.c.id, votes.c.principal_id, votes.c.actor, votes.c.verdict, votes.c.note, votes.c.created_at,
            votes.c.decision_id)
_OPEN = (select(*_COLUMNS).where(votes.c.item_id == bindparam("item_id"), votes.c.decision_id.is_(None))
         .order_by(votes.c.id))
_ALL = select(*_COLUMNS).where(votes.c.item_id == bindparam("item_id")).order_by(votes.c.id)


def open_votes(conn: Connection, item_id: int) -> list[VoteRow]:
    """open_votes: this round's votes on an item (not yet closed by a decision), oldest first."""
    return [VoteRow._make(r) for r in conn.execute(_OPEN, {"item_id": item_id})]


def item_votes(conn: Connection, item_id: int) -> list[VoteRow]:
    """item_votes: every vote ever cast on an item, oldest first (closed ones carry their decision)."""
    return [VoteRow._make(r) for r in conn.execute(_ALL, {"item_id": item_id})]


def insert_vote(conn: Connection, *, item_id: int, principal_id: int, actor: str, verdict: str, note: str,
                created_at: datetime) -> int:
    """insert_vote: record one reviewer's open vote (ux_votes_open: at most one per reviewer and item)."""
    return int(conn.execute(votes.insert().values(
        item_id=item_id, principal_id=principal_id, actor=actor, verdict=verdict, note=note, created_at=created_at,
    ).returning(votes.c.id)).scalar_one())


def close_open_votes(conn: Connection, item_id: int, decision_id: int) -> Sequence[int]:
    """close_open_votes: the round's decision closes its open votes; returns the voters' principal ids."""
    return [int(r[0]) for r in conn.execute(
        update(votes).where(votes.c.item_id == item_id, votes.c.decision_id.is_(None))
        .values(decision_id=decision_id).returning(votes.c.principal_id))]
