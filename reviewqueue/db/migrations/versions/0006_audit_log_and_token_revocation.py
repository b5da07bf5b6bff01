"""Audit log of admin acts; when a token was revoked

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Reviewed by hand (issue 10 point 7). audit_log: one row per admin act (replay, retrain, promote, rollback,
shadow, user and token changes): who, what, target, when, detail JSON; append-only (on PostgreSQL a trigger
refuses UPDATE and DELETE). api_tokens.revoked_at: when a token was revoked (sign-out, revoke, disable).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=200), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_action', 'audit_log', ['action'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_REFUSE)
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('revoked_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('revoked_at')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index('ix_audit_log_action', table_name='audit_log')
    op.drop_table('audit_log')
