"""Accounts, sessions and API keys.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("admin", "community_manager", "grid_worker", "viewer", "auditor")


def upgrade() -> None:
    role = postgresql.ENUM(*ROLES, name="account_role")
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", role, nullable=False),
        sa.Column("subdistrict_code", sa.String(9), sa.ForeignKey("subdistricts.code"), nullable=True),
        sa.Column("scope_grid_id", sa.Integer, sa.ForeignKey("grids.id"), nullable=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failed_attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary, nullable=True, comment="sealed with the data key; set once confirmed"),
        sa.Column("totp_pending", sa.LargeBinary, nullable=True, comment="sealed secret awaiting its first code"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("role <> 'community_manager' OR scope_grid_id IS NOT NULL", name="manager_has_a_zone"),
        sa.CheckConstraint("role <> 'grid_worker' OR staff_id IS NOT NULL", name="worker_is_staff"),
        sa.CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
    )
    op.create_index("uq_accounts_username", "accounts", [sa.text("lower(username)")], unique=True)
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_addr", postgresql.INET, nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_auth_sessions_account", "auth_sessions", ["account_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False, comment="the key's first characters, to recognise it"),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_audit_log_client", "audit_log", ["client_addr", "action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_client", "audit_log")
    op.drop_table("api_keys")
    op.drop_table("auth_sessions")
    op.drop_table("accounts")
    op.execute("DROP TYPE account_role")
