from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class SubDistrict(Base):
    """A 街道: code = 6-digit county code (GB/T 2260) + 3-digit sub-district serial. Its boundary
    and name are versioned: the ``subdistricts_history`` trigger (migration 0015) keeps every one."""

    __tablename__ = "subdistricts"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{9}$'", name="code_is_9_digits"),
        CheckConstraint("ST_IsValid(boundary) AND NOT ST_IsEmpty(boundary)", name="boundary_valid"),
        Index("ix_subdistricts_boundary", "boundary", postgresql_using="gist"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    county: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class SubDistrictVersion(Base):
    """Every boundary and name a sub-district ever had, written by its trigger, never by hand;
    ``valid_to IS NULL`` is the current one."""

    __tablename__ = "subdistrict_versions"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_subdistrict_versions_code_version"),
        Index("ix_subdistrict_versions_valid", "valid_from", "valid_to"),
        Index("ix_subdistrict_versions_boundary", "boundary", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    operation: Mapped[str] = mapped_column(String(30))
