"""A visit logged from a phone on a weak connection is logged once: visits keep the
Idempotency-Key of the request that made them (unique where given), as cases do.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE visits ADD COLUMN idempotency_key varchar(200)")
    op.execute("CREATE UNIQUE INDEX uq_visits_idempotency_key ON visits (idempotency_key) "
               "WHERE idempotency_key IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE visits DROP COLUMN idempotency_key")
