from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class Visit(Base):
    """A household visit or an information check by a grid worker. It keeps the L2 grid the
    building was in at the time, as a case keeps the grid it was reported in."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("kind IN ('visit', 'info_check')", name="kind_known"),
        Index("ix_visits_at", "visited_at"),
        Index("ix_visits_staff", "staff_id", "visited_at"),
        Index("ix_visits_grid", "grid_l2_id", "visited_at"),
        Index("uq_visits_idempotency_key", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(20))
    building_id: Mapped[int] = mapped_column(ForeignKey("all_buildings.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("all_households.id"), nullable=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    grid_l2_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TrainingCourse(Base):
    """A training session (a course, a drill, an exam) for grid staff."""

    __tablename__ = "training_courses"
    __table_args__ = (
        CheckConstraint("hours > 0", name="hours_positive"),
        CheckConstraint("max_score > 0", name="max_score_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date)
    hours: Mapped[float] = mapped_column(Numeric(5, 1))
    max_score: Mapped[float] = mapped_column(Numeric(5, 1), default=100, server_default="100")


class TrainingRecord(Base):
    """One worker at one course: attended or not, and the test score when there was a test."""

    __tablename__ = "training_records"
    __table_args__ = (
        CheckConstraint("score IS NULL OR score >= 0", name="score_not_negative"),
        CheckConstraint("attended OR score IS NULL", name="score_only_if_attended"),
        Index("ix_training_records_staff", "staff_id"),
    )

    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    attended: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Numeric(5, 1), nullable=True)
