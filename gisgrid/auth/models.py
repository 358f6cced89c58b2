from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.enums import Role, pg_enum


class Account(Base):
    """A staff account. Its scope follows the role: an administrator's sub-district (none: every
    sub-district), a community manager's L1 zone, a grid worker's own grids (through the staff
    member's grid assignments)."""

    __tablename__ = "accounts"
    __table_args__ = (
        Index("uq_accounts_username", text("lower(username)"), unique=True),
        CheckConstraint("role <> 'community_manager' OR scope_grid_id IS NOT NULL", name="manager_has_a_zone"),
        CheckConstraint("role <> 'grid_worker' OR staff_id IS NOT NULL", name="worker_is_staff"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(pg_enum(Role, "account_role"))
    subdistrict_code: Mapped[str | None] = mapped_column(String(9), ForeignKey("subdistricts.code"), nullable=True)
    scope_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True,
                                                      comment="sealed with the data key; set once confirmed")
    totp_pending: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True,
                                                       comment="sealed secret awaiting its first code")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuthSession(Base):
    """A signed-in session: only the token's SHA-256 is stored, so a copy of the table opens nothing."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_account", "account_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_addr: Mapped[str | None] = mapped_column(INET, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiKey(Base):
    """A key for an integration, acting as its account; stored as SHA-256 of a 256-bit secret."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12), comment="the key's first characters, to recognise it")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
