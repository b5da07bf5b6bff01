"""Shadow challengers: the shadow version's score beside the champion's on each prediction

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Reviewed by hand (issue 9 point 8). predictions.shadow_version_id / shadow_score: the score a version in shadow
gave the same event (it routes nothing); compared with the champion's as labels arrive. NULL when no shadow ran.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.add_column(sa.Column('shadow_version_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('shadow_score', sa.Float(), nullable=True))
        batch.create_foreign_key('fk_predictions_shadow_version', 'model_versions', ['shadow_version_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.drop_constraint('fk_predictions_shadow_version', type_='foreignkey')
        batch.drop_column('shadow_score')
        batch.drop_column('shadow_version_id')
