from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class LedgerVersion(Base):
    """A replaced version of a ledger record, written by the ``ledger_version`` trigger (migration
    0016), never by hand: the row as it was (geometries as hex EWKB, personal fields sealed as
    stored), the time it was current, ``valid_from`` to ``valid_to``, and where it was then."""

    __tablename__ = "ledger_versions"
    __table_args__ = (
        UniqueConstraint("kind", "record_id", "version", name="uq_ledger_versions_record_version"),
        Index("ix_ledger_versions_valid", "kind", "valid_to", "valid_from"),
        Index("ix_ledger_versions_building", "building_id", "valid_from"),
        {"comment": "every replaced version of a ledger record (trigger ledger_version)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    operation: Mapped[str] = mapped_column(String(30))
    data = mapped_column(JSONB, nullable=False)
    building_id: Mapped[int | None] = mapped_column(Integer, nullable=True, comment=(
        "the building that placed the record when this version was replaced (trigger ledger_version_place)"))


class LedgerRequest(Base):
    """The Idempotency-Key of a ledger write: a retry answers the record the first one wrote.
    ``kind`` is the request's ``<kind>.<operation>`` (``households.move``) and ``record_id`` the
    record it names, so a key answers only its own request."""

    __tablename__ = "ledger_requests"
    __table_args__ = ({"comment": "Idempotency-Key of every ledger write: a retry answers the first result"},)

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    account: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
