"""Artifacts stored in the database (shared across hosts)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

Reserved for issue 12 point 4 (artifact store). Until that work lands this revision changes nothing; the slot keeps the chain linear while
several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
