"""Indexes for the list views and the claim at scale: open items per queue, dead letters in id order, holders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Reviewed by hand. BENCHMARKS.md §7 measured both at 1M items / 1M actions:
- ix_items_open (queue, status, created_at) WHERE status IN ('pending', 'claimed') turns the queue overview's
  parallel sequential scan into an index-only scan (136 → 76 ms at 1M items, 40% open);
- ix_outbox_status grows from (status) to (status, id) so a dead-letter page stops sorting every dead row.
- ix_items_holder (claimed_by, id) WHERE status = 'claimed': the held-item lookup every claim makes first read
  every claimed row of the queue through ix_items_open (2.4 ms with ~1k claimed rows and dead tuples).
Plain CREATE/DROP INDEX: no table copy on SQLite, so the claim and outbox partial indexes are untouched.
On a large PostgreSQL table build ix_items_open CONCURRENTLY by hand before upgrading if writes must not wait.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'claimed')"
CLAIMED = "status = 'claimed'"


def upgrade() -> None:
    op.create_index('ix_items_open', 'review_items', ['queue', 'status', 'created_at'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_items_holder', 'review_items', ['claimed_by', 'id'], unique=False,
                    postgresql_where=sa.text(CLAIMED), sqlite_where=sa.text(CLAIMED))
    op.drop_index('ix_outbox_status', table_name='outbox_actions')
    op.create_index('ix_outbox_status', 'outbox_actions', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_status', table_name='outbox_actions')
    op.create_index('ix_outbox_status', 'outbox_actions', ['status'], unique=False)
    op.drop_index('ix_items_holder', table_name='review_items')
    op.drop_index('ix_items_open', table_name='review_items')
