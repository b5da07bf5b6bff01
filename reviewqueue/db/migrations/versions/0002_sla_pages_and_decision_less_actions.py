"""SLA pages (review_items.paged_at) and actions without a decision (outbox_actions.decision_id nullable)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Reviewed by hand: paged_at is a plain ADD COLUMN (no table copy, so the claim index is untouched);
decision_id needs a table copy on SQLite (batch mode), after which the outbox indexes are checked by
tests/integration/test_migrations.py.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('review_items', sa.Column('paged_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.alter_column('decision_id', existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.alter_column('decision_id', existing_type=sa.INTEGER(), nullable=False)
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_column('paged_at')
