"""Training progress (stage and fraction of a running retrain)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

Reserved for issue 11 point 5 (a real retrain progress bar). Until that work lands this revision changes
nothing; the slot keeps the chain linear while several changes are built at once.
"""
from collections.abc import Sequence

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
