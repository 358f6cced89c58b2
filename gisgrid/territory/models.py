from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class SubDistrict(Base):
    """A 街道: code = 6-digit county code (GB/T 2260) + 3-digit sub-district serial."""

    __tablename__ = "subdistricts"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{9}$'", name="code_is_9_digits"),
        CheckConstraint("ST_IsValid(boundary) AND NOT ST_IsEmpty(boundary)", name="boundary_valid"),
        Index("ix_subdistricts_boundary", "boundary", postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    county: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
