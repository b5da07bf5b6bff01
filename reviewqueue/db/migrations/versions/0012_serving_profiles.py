"""Serving profiles and serving configuration per version

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Reviewed by hand (issue 12 points 1-2). model_versions.serving_profile: what `reviewqueue bench-model` last
measured for the version (latency, throughput and parity per provider / threads / int8 variant);
model_versions.serving_config: the configuration `bench-model --apply` chose from it (file, sha256, providers,
threads), the default serving uses for the version unless Settings override it. Both nullable: NULL = never
measured / nothing applied (serving as before).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.add_column(sa.Column('serving_profile', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('serving_config', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.drop_column('serving_config')
        batch.drop_column('serving_profile')
