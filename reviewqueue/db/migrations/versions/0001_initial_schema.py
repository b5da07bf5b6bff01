"""initial schema: principals, tokens, versions, predictions, items, decisions, labels, outbox, events, runs

Reviewed by hand: the claim index is added explicitly (autogenerate skips expression indexes).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 19:44:17.495484
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reviewqueue.db.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('received_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'event_id')
    )
    op.create_table('leases',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('artifact_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('input_schema', sa.JSON(), nullable=False),
    sa.Column('data_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('lineage', sa.JSON(), nullable=False),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('promoted_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_name', 'version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_model_name'), ['model_name'], unique=False)

    op.create_table('principals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('queues', sa.JSON(), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_principal_id'), ['principal_id'], unique=False)

    op.create_table('predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('audited', sa.Boolean(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('correlation_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_name', 'external_id')
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index('ix_predictions_correlation', ['model_name', 'correlation_key'], unique=False)

    op.create_table('training_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('label_ids', sa.JSON(), nullable=False),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('max_label_id', sa.Integer(), nullable=False),
    sa.Column('champion_version_id', sa.Integer(), nullable=True),
    sa.Column('candidate_version_id', sa.Integer(), nullable=True),
    sa.Column('champion_metrics', sa.JSON(), nullable=False),
    sa.Column('candidate_metrics', sa.JSON(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('started_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['candidate_version_id'], ['model_versions.id'], ),
    sa.ForeignKeyConstraint(['champion_version_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_runs_model_name'), ['model_name'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.Integer(), nullable=False),
    sa.Column('queue', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('priority', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('lease_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lease_expires_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claimed_by'], ['principals.id'], ),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prediction_id')
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index('ix_items_lease', ['lease_expires_at'], unique=False, postgresql_where=sa.text("status = 'claimed'"), sqlite_where=sa.text("status = 'claimed'"))
        batch_op.create_index('ix_items_queue_status', ['queue', 'status'], unique=False)
    # claim-next: pending items of one queue, best first (autogenerate cannot compare expression indexes)
    op.create_index('ix_items_claim', 'review_items', ['queue', sa.text('priority DESC'), 'created_at'],
                    unique=False, postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))

    op.create_table('decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['review_items.id'], ),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_prediction_id'), ['prediction_id'], unique=False)

    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=True),
    sa.Column('inbound_event_id', sa.Integer(), nullable=True),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], ),
    sa.ForeignKeyConstraint(['inbound_event_id'], ['inbound_events.id'], ),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labels_model_name'), ['model_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_labels_prediction_id'), ['prediction_id'], unique=False)

    op.create_table('outbox_actions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('connector', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('outcome_unknown', sa.Boolean(), nullable=False),
    sa.Column('next_attempt_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_expires_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('leased_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_actions_decision_id'), ['decision_id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_outbox_inflight', ['lease_expires_at'], unique=False, postgresql_where=sa.text("status = 'in_flight'"), sqlite_where=sa.text("status = 'in_flight'"))
        batch_op.create_index('ix_outbox_status', ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status')
        batch_op.drop_index('ix_outbox_inflight', postgresql_where=sa.text("status = 'in_flight'"), sqlite_where=sa.text("status = 'in_flight'"))
        batch_op.drop_index('ix_outbox_due', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_outbox_actions_decision_id'))

    op.drop_table('outbox_actions')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labels_prediction_id'))
        batch_op.drop_index(batch_op.f('ix_labels_model_name'))

    op.drop_table('labels')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_prediction_id'))
        batch_op.drop_index(batch_op.f('ix_decisions_item_id'))

    op.drop_table('decisions')
    op.drop_index('ix_items_claim', table_name='review_items')
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_queue_status')
        batch_op.drop_index('ix_items_lease', postgresql_where=sa.text("status = 'claimed'"), sqlite_where=sa.text("status = 'claimed'"))

    op.drop_table('review_items')
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_runs_model_name'))

    op.drop_table('training_runs')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_predictions_correlation')

    op.drop_table('predictions')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_principal_id'))

    op.drop_table('api_tokens')
    op.drop_table('principals')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_model_name'))

    op.drop_table('model_versions')
    op.drop_table('leases')
    op.drop_table('inbound_events')
