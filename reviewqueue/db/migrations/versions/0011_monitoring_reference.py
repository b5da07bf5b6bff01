"""Monitoring reference (training distributions for drift) and drift alerts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Written by hand (issue 11 point 6, drift). model_versions.reference: what a version was trained on, binned —
per-feature quantile edges and proportions (category proportions for categorical and boolean inputs, text
lengths for a text model) and its score distribution; NULL for versions trained before this revision (the
Monitor page says so). drift_alerts: one row per alert sent, unique on (model_name, feature, day), so the daily
check alerts once per model, input and day however often it runs.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.add_column(sa.Column('reference', sa.JSON(), nullable=True))
    op.create_table(
        'drift_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_name', sa.String(length=120), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('feature', sa.String(length=200), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('psi', sa.Float(), nullable=False),
        sa.Column('psi_low', sa.Float(), nullable=False),
        sa.Column('psi_high', sa.Float(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('sent_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('model_name', 'feature', 'day'),
    )


def downgrade() -> None:
    op.drop_table('drift_alerts')
    with op.batch_alter_table('model_versions') as batch:
        batch.drop_column('reference')
