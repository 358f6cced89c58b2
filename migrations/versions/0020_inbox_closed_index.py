"""Cases by the time they closed: the inbox's "recently closed" tab finds the last 30 days' closed
cases by index instead of reading every case (closed ones are nearly all of a year's).

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"], postgresql_where=text("closed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_cases_closed_at", "cases")
