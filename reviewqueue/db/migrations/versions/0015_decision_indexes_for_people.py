"""Decision indexes that only people's decisions enter

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

Reviewed by hand (issue 12 point 5). Most decisions are the model's own, written at ingest (about 94% of fraud
events are auto-decided), and they carry no review item and are never listed by actor. Each still cost two index
entries that nothing reads: one more page in every single prediction's commit on SQLite, and 2 of the 4 index
insertions per decision in a batch on PostgreSQL.
- ix_decisions_item_id becomes partial, WHERE item_id IS NOT NULL. Nothing lists decisions by item; the index
  serves the foreign key's check when a review item is deleted (``item_id = $1`` implies NOT NULL, so both engines
  still use it).
- ix_decisions_actor (actor, id), which serves "my decisions", becomes partial, WHERE source = 'reviewer': the
  only query that reads it (db.decisions.decisions_by_actor) asks for a reviewer's verdicts with that literal.
Plain DROP/CREATE INDEX: no table copy on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAS_ITEM = sa.text("item_id IS NOT NULL")
_BY_REVIEWER = sa.text("source = 'reviewer'")


def upgrade() -> None:
    op.drop_index('ix_decisions_item_id', table_name='decisions')
    op.create_index('ix_decisions_item_id', 'decisions', ['item_id'], unique=False,
                    postgresql_where=_HAS_ITEM, sqlite_where=_HAS_ITEM)
    op.drop_index('ix_decisions_actor', table_name='decisions')
    op.create_index('ix_decisions_actor', 'decisions', ['actor', 'id'], unique=False,
                    postgresql_where=_BY_REVIEWER, sqlite_where=_BY_REVIEWER)


def downgrade() -> None:
    op.drop_index('ix_decisions_actor', table_name='decisions')
    op.create_index('ix_decisions_actor', 'decisions', ['actor', 'id'], unique=False)
    op.drop_index('ix_decisions_item_id', table_name='decisions')
    op.create_index('ix_decisions_item_id', 'decisions', ['item_id'], unique=False)
