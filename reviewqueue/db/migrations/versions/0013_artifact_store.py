"""Artifacts stored in the database (shared across hosts)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

Reviewed by hand (issue 12 point 4). artifacts: one row per file of the database artifact store (key
``<model>/<version>/<file>``, its sha256 and size, written once); artifact_chunks: its bytes in pieces of at
most 8 MiB (the text encoder is ~90 MB), read in ``seq`` order and checked against the sha256 on every fetch.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reviewqueue.db.types

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'artifacts',
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('created_at', reviewqueue.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'artifact_chunks',
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['key'], ['artifacts.key']),
        sa.PrimaryKeyConstraint('key', 'seq'),
    )


def downgrade() -> None:
    op.drop_table('artifact_chunks')
    op.drop_table('artifacts')
