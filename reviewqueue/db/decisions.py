"""Decisions: the append-only audit of every verdict, human (one at a time) or model (in bulk at ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from reviewqueue.db import bulk
from reviewqueue.db.tables import decisions_table as decisions

__all__ = ["insert_decision", "insert_decisions"]


def insert_decision(conn: Connection, *, prediction_id: int, item_id: int | None, verdict: str, source: str,
                    actor: str, note: str, created_at: datetime) -> int:
    """insert_decision: record one verdict; returns its id."""
    return int(conn.execute(insert(decisions).values(
        prediction_id=prediction_id, item_id=item_id, verdict=verdict, source=source, actor=actor, note=note,
        created_at=created_at,
    ).returning(decisions.c.id)).scalar_one())


def insert_decisions(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """insert_decisions: record a batch of verdicts in one bulk write (ids in row order)."""
    return bulk.insert_with_ids(conn, decisions, rows)
