"""Routing-policy versions (thresholds applied from the what-if) and the claim time of an item

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Issue 11 point 6 (operations). routing_policies: a model's stored routing thresholds (review_low, review_high,
audit_fraction), numbered per model, with who applied it, when, why and the what-if figures it was applied on;
at most one active per model (ux_routing_policies_active). With none active the decorator's policy routes.
review_items.claimed_at: when the item's current (or last) claim started, so a reviewer's time to decision is
decided_at − claimed_at.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'routing_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_name', sa.String(length=120), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('review_low', sa.Float(), nullable=False),
        sa.Column('review_high', sa.Float(), nullable=False),
        sa.Column('audit_fraction', sa.Float(), nullable=False),
        sa.Column('policy_version', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.String(length=2000), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('model_name', 'version'),
    )
    op.create_index('ux_routing_policies_active', 'routing_policies', ['model_name'], unique=True,
                    postgresql_where=sa.text('active'), sqlite_where=sa.text('active'))
    with op.batch_alter_table('review_items') as batch:
        batch.add_column(sa.Column('claimed_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.drop_column('claimed_at')
    op.drop_index('ux_routing_policies_active', table_name='routing_policies', postgresql_where=sa.text('active'),
                  sqlite_where=sa.text('active'))
    op.drop_table('routing_policies')
