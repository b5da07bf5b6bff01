"""Serving profiles and serving configuration per version

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Reserved for issue 12 points 1-2 (bench-model). Until that work lands this revision changes nothing; the slot keeps the chain linear while
several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
