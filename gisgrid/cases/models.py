from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.enums import CaseStatus, ReporterKind, pg_enum


class CaseCategory(Base):
    """The eight information categories (parent_code NULL) and their sub-types, as rows."""

    __tablename__ = "case_categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("case_categories.code"), nullable=True
    )
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    sort_order: Mapped[int] = mapped_column(SmallInteger)


class Case(Base):
    """A case at a point. It keeps the grids (every level) it was reported in."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_1_5"),
        CheckConstraint("closed_at IS NULL OR closed_at >= reported_at", name="closed_after_reported"),
        Index("ix_cases_geom", "geom", postgresql_using="gist"),
        Index("ix_cases_status", "status"),
        Index("ix_cases_reported_at", "reported_at"),
        Index("ix_cases_grid_l2", "grid_l2_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(30), unique=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    category_code: Mapped[str] = mapped_column(String(40), ForeignKey("case_categories.code"))
    subtype_code: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("case_categories.code"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    reporter_name: Mapped[str] = mapped_column(String(50))
    reporter_kind: Mapped[ReporterKind] = mapped_column(pg_enum(ReporterKind, "reporter_kind"))
    reporter_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    status: Mapped[CaseStatus] = mapped_column(pg_enum(CaseStatus, "case_status"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    grid_l1_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    grid_l2_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    grid_l3_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CaseEvent(Base):
    """One step in a case's timeline: a status change with who, when and a note."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    from_status: Mapped[CaseStatus | None] = mapped_column(
        pg_enum(CaseStatus, "case_status"), nullable=True
    )
    to_status: Mapped[CaseStatus] = mapped_column(pg_enum(CaseStatus, "case_status"))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
