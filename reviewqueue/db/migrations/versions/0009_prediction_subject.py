"""Prediction subject (the model's declared history key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Reserved for issue 11 point 3 (customer history). Until that work lands this revision changes nothing; the slot keeps the chain linear while
several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
