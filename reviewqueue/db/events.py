"""Inbound events (verified webhooks), stored once per provider event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import events_table as events

__all__ = ["EVENT_ID_MAX_LENGTH", "event_seen", "insert_event", "set_event_outcome"]

EVENT_ID_MAX_LENGTH: int = events.c.event_id.type.length  # type: ignore[attr-defined]  # inbound_events.event_id


def insert_event(conn: Connection, provider: str, event_id: str, type_: str, payload: dict[str, Any],
                 received_at: datetime, outcome: str = "") -> int:
    """insert_event: store a verified event; a second one with the same (provider, event id) raises IntegrityError."""
    return int(conn.execute(events.insert().values(
        provider=provider, event_id=event_id, type=type_, payload=payload, received_at=received_at, outcome=outcome,
    ).returning(events.c.id)).scalar_one())


def set_event_outcome(conn: Connection, row_id: int, outcome: str) -> None:
    """set_event_outcome: what applying the event did, in words (at most 200 characters)."""
    conn.execute(events.update().where(events.c.id == row_id).values(outcome=outcome[:200]))


def event_seen(conn: Connection, provider: str, event_id: str) -> bool:
    """event_seen: whether this provider's event id is already stored."""
    return conn.execute(select(events.c.id).where(events.c.provider == provider,
                                                  events.c.event_id == event_id)).first() is not None
