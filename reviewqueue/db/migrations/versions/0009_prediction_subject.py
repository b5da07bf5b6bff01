"""Prediction subject (the model's declared history key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Reviewed by hand (issue 11 point 3, "triage that informs"). predictions.subject: the value of the context field a
model declares as its history key (``history_key="user_id"``), stored at ingest so the triage page can list the
same customer's (patient's) other predictions; NULL for models that declare none. ix_predictions_subject serves
that list newest first: (model_name, subject, id). ix_decisions_actor serves "my decisions" (a reviewer's own,
newest first) without scanning every decision.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.add_column(sa.Column('subject', sa.String(length=200), nullable=True))
    op.create_index('ix_predictions_subject', 'predictions', ['model_name', 'subject', 'id'], unique=False)
    op.create_index('ix_decisions_actor', 'decisions', ['actor', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_decisions_actor', table_name='decisions')
    op.drop_index('ix_predictions_subject', table_name='predictions')
    with op.batch_alter_table('predictions') as batch:
        batch.drop_column('subject')
