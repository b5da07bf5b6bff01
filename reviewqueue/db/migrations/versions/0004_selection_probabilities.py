"""Selection probabilities and explained promotion decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Reviewed by hand (issue 9).
- predictions.policy_version, predictions.selection_probability: which routing policy routed a prediction and
  the probability it was sent to a human (review band 1, audit rate, learning draw probability, else 0).
- labels.selection_probability: the probability the label was gathered (copied from the prediction for human
  verdicts; the probability an outcome was observed for outcomes). Evaluation weights labels by its inverse.
- training_runs.decision / warnings: the promotion decision in words and what training warned about.
- ix_items_claim_kind: the oldest pending audit or learning item of a queue, for the claims reserved for them.
- ix_predictions_created: a model's predictions of the last 24 hours (the learning draw's traffic estimate).
Existing rows: predictions get '' and 0 (their selection was not recorded), labels NULL (unknown).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.add_column(sa.Column('policy_version', sa.String(length=64), nullable=False, server_default=''))
        batch.add_column(sa.Column('selection_probability', sa.Float(), nullable=False, server_default='0'))
    with op.batch_alter_table('labels') as batch:
        batch.add_column(sa.Column('selection_probability', sa.Float(), nullable=True))
    with op.batch_alter_table('training_runs') as batch:
        batch.add_column(sa.Column('decision', sa.String(length=2000), nullable=False, server_default=''))
        batch.add_column(sa.Column('warnings', sa.JSON(), nullable=False, server_default='[]'))
    op.create_index('ix_predictions_created', 'predictions', ['model_name', 'created_at'], unique=False)
    op.create_index('ix_items_claim_kind', 'review_items', ['queue', 'kind', 'created_at'], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index('ix_items_claim_kind', table_name='review_items')
    op.drop_index('ix_predictions_created', table_name='predictions')
    with op.batch_alter_table('training_runs') as batch:
        batch.drop_column('warnings')
        batch.drop_column('decision')
    with op.batch_alter_table('labels') as batch:
        batch.drop_column('selection_probability')
    with op.batch_alter_table('predictions') as batch:
        batch.drop_column('selection_probability')
        batch.drop_column('policy_version')
