from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.enums import CaseStatus, ReporterKind, pg_enum


class CaseCategory(Base):
    """The eight information categories (parent_code NULL) and their sub-types, as rows.

    The time limits are working hours per stage; NULL inherits the parent's, then the
    settings' default (``GISGRID_CASE_DEADLINES``). A new sub-type is a new row."""

    __tablename__ = "case_categories"
    __table_args__ = tuple(
        CheckConstraint(f"{stage}_hours IS NULL OR {stage}_hours > 0", name=f"{stage}_hours_positive")
        for stage in ("register", "dispatch", "handle", "close")
    )

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("case_categories.code"), nullable=True
    )
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    sort_order: Mapped[int] = mapped_column(SmallInteger)
    register_hours: Mapped[float | None] = mapped_column(Numeric(6, 2), nullable=True)
    dispatch_hours: Mapped[float | None] = mapped_column(Numeric(6, 2), nullable=True)
    handle_hours: Mapped[float | None] = mapped_column(Numeric(6, 2), nullable=True)
    close_hours: Mapped[float | None] = mapped_column(Numeric(6, 2), nullable=True)


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
        Index("ix_cases_assignee", "assignee_staff_id"),
        Index("ix_cases_subdistrict_reported", "subdistrict_code", "reported_at"),
        Index("ix_cases_due", "due_at", postgresql_where=text("due_at IS NOT NULL")),
        Index("ix_cases_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),  # the inbox's closed tab
        Index("uq_cases_idempotency_key", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        CheckConstraint("handling_level BETWEEN 0 AND 3", name="handling_level_0_3"),
        UniqueConstraint("tracking_code", name="uq_cases_tracking_code"),
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
    tracking_code: Mapped[str | None] = mapped_column(String(12), nullable=True,
                                                      comment="what a resident follows the case by")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_digest: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                       comment="sha256 of the report an idempotency key first carried")
    building_id: Mapped[int | None] = mapped_column(ForeignKey("all_buildings.id"), nullable=True)
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    handling_level: Mapped[int | None] = mapped_column(
        SmallInteger, nullable=True, comment="who handles it: 2 = L2 grid, 1 = community, 0 = the leading group")
    handling_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True,
                                                    comment="deadline of the stage the case is in")
    escalations: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    reopens: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True, comment="the reporter's feedback at closure")


class CaseEvent(Base):
    """One step in a case's timeline: a transition, an escalation or a reassignment, with who,
    when and a note; ``due_at`` / ``on_time`` judge the stage the step ended."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case", "case_id", "at"),
        Index("ix_case_events_at", "at"),
        Index("ix_case_events_missed", "due_at", postgresql_where=text("on_time = false")),
        CheckConstraint("kind IN ('transition', 'escalation', 'reassignment')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    from_status: Mapped[CaseStatus | None] = mapped_column(
        pg_enum(CaseStatus, "case_status"), nullable=True
    )
    to_status: Mapped[CaseStatus] = mapped_column(pg_enum(CaseStatus, "case_status"))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="transition", server_default="transition")
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    handling_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class CaseAttachment(Base):
    """A photo or document on a case (or on one of its steps), kept in the database with the
    case so a backup holds both; an upload's Idempotency-Key makes its retry return it."""

    __tablename__ = "case_attachments"
    __table_args__ = (
        Index("ix_case_attachments_case", "case_id"),
        Index("uq_case_attachments_idempotency_key", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        CheckConstraint("size_bytes > 0", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"), nullable=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the upload's: a retry gets it back


class CaseNumber(Base):
    """The last case number issued per sub-district and year: a row lock hands them out in order."""

    __tablename__ = "case_numbers"

    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"), primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer)
