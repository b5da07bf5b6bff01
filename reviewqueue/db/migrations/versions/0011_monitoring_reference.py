"""Monitoring reference (training distributions for drift) and drift alerts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Reserved for issue 11 point 6 (drift). Until that work lands this revision changes nothing; the slot keeps the chain linear while
several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
