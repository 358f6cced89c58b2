"""A photo uploaded from a phone on a weak connection is attached once: attachments keep the
Idempotency-Key of the upload that made them (unique where given), as cases and visits do.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_attachments ADD COLUMN idempotency_key varchar(200)")
    op.execute("CREATE UNIQUE INDEX uq_case_attachments_idempotency_key ON case_attachments (idempotency_key) "
               "WHERE idempotency_key IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE case_attachments DROP COLUMN idempotency_key")
