"""Undo windows, reversals and compensations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Reviewed by hand (issue 10 points 3 and 4). decisions: undo_until (a person's decision's actions wait until
then), undone_at/undone_by, reversed_at/reversed_by/reverse_reason. labels.withdrawn_at: the label of an undone
or reversed decision no longer counts. outbox_actions.compensates: the delivered action a compensation undoes,
indexed for compensations only. The new action status 'cancelled' fits the existing 16-character column.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(_ts('undo_until'))
        batch.add_column(_ts('undone_at'))
        batch.add_column(sa.Column('undone_by', sa.String(length=120), nullable=True))
        batch.add_column(_ts('reversed_at'))
        batch.add_column(sa.Column('reversed_by', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('reverse_reason', sa.String(length=2000), nullable=True))
    with op.batch_alter_table('labels') as batch:
        batch.add_column(_ts('withdrawn_at'))
    with op.batch_alter_table('outbox_actions') as batch:
        batch.add_column(sa.Column('compensates', sa.String(length=32), nullable=True))
    op.create_index('ix_outbox_compensates', 'outbox_actions', ['compensates'], unique=False,
                    postgresql_where=sa.text('compensates IS NOT NULL'),
                    sqlite_where=sa.text('compensates IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_outbox_compensates', table_name='outbox_actions',
                  postgresql_where=sa.text('compensates IS NOT NULL'),
                  sqlite_where=sa.text('compensates IS NOT NULL'))
    with op.batch_alter_table('outbox_actions') as batch:
        batch.drop_column('compensates')
    with op.batch_alter_table('labels') as batch:
        batch.drop_column('withdrawn_at')
    with op.batch_alter_table('decisions') as batch:
        for name in ('reverse_reason', 'reversed_by', 'reversed_at', 'undone_by', 'undone_at', 'undo_until'):
            batch.drop_column(name)
