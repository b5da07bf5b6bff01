"""Routing-policy versions (thresholds applied from the what-if)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Reserved for issue 11 point 6 (threshold what-if). Until that work lands this revision changes nothing; the slot keeps the chain linear while
several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
