"""Four-eyes votes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Reviewed by hand (issue 10 point 5). votes: a reviewer's verdict on a four-eyes item that did not decide it
alone — who, what, their note, when — open until the round's decision (decision_id). ux_votes_open: one open vote
per reviewer and item, so nobody is counted twice even if two requests race.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'votes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('principal_id', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('verdict', sa.String(length=64), nullable=False),
        sa.Column('note', sa.String(length=2000), nullable=False),
        sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decision_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['decisions.id']),
        sa.ForeignKeyConstraint(['item_id'], ['review_items.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_votes_item_id', 'votes', ['item_id'], unique=False)
    op.create_index('ux_votes_open', 'votes', ['item_id', 'principal_id'], unique=True,
                    postgresql_where=sa.text('decision_id IS NULL'), sqlite_where=sa.text('decision_id IS NULL'))


def downgrade() -> None:
    op.drop_index('ux_votes_open', table_name='votes', postgresql_where=sa.text('decision_id IS NULL'),
                  sqlite_where=sa.text('decision_id IS NULL'))
    op.drop_index('ix_votes_item_id', table_name='votes')
    op.drop_table('votes')
