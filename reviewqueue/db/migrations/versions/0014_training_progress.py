"""Training progress (stage and fraction of a running retrain) and time-ordered outbox lists

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

Reviewed by hand (issue 11 points 4 and 5).
- training_runs.stage / training_runs.progress: a retrain started over the API runs after the 202; it writes
  its current stage ("training", "evaluating" …) and fraction 0..1 on its row, which the Models page polls.
  Existing rows get stage '' and progress NULL (finished runs need neither).
- Outbox lists are newest first, keyset-paged on (created_at, id): ids are uuid4, so id order is random.
  ix_outbox_status grows from (status, id) to (status, created_at, id): a dead-letter page reads its entries in
  time order (counts per status still use its first column); ix_outbox_created (created_at, id) serves
  "Recent actions" over every status. Plain CREATE/DROP INDEX: no table copy on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('training_runs') as batch:
        batch.add_column(sa.Column('stage', sa.String(length=64), nullable=False, server_default=''))
        batch.add_column(sa.Column('progress', sa.Float(), nullable=True))
    op.drop_index('ix_outbox_status', table_name='outbox_actions')
    op.create_index('ix_outbox_status', 'outbox_actions', ['status', 'created_at', 'id'], unique=False)
    op.create_index('ix_outbox_created', 'outbox_actions', ['created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_created', table_name='outbox_actions')
    op.drop_index('ix_outbox_status', table_name='outbox_actions')
    op.create_index('ix_outbox_status', 'outbox_actions', ['status', 'id'], unique=False)
    with op.batch_alter_table('training_runs') as batch:
        batch.drop_column('progress')
        batch.drop_column('stage')
