from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.enums import Sex, StaffRole, pg_enum
from gisgrid.core.records import Versioned


class Staff(Versioned, Base):
    """A person who works for grids; the phone is a work number shown on the notice board."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[Sex | None] = mapped_column(pg_enum(Sex, "sex"), nullable=True)  # often not on a staff list
    phone: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(100), nullable=True, comment="post or employer")
    party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class GridAssignment(Versioned, Base):
    """A staff member's role on one grid. The partial unique index keeps one lead per grid; the
    view ``grid_leads`` (migration 0014) is that lead with name and phone, for every reader."""

    __tablename__ = "all_grid_assignments"
    __table_args__ = (
        Index("uq_grid_assignments_staff_grid_role", "staff_id", "grid_id", "role", unique=True,
              postgresql_where=text("ended_on IS NULL")),
        Index(
            "uq_grid_assignments_one_lead",
            "grid_id",
            unique=True,
            postgresql_where=text("role = 'grid_lead' AND ended_on IS NULL"),
        ),
        Index("ix_grid_assignments_grid", "grid_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    role: Mapped[StaffRole] = mapped_column(pg_enum(StaffRole, "staff_role"))


class LeadingGroupMember(Base):
    """A member of a sub-district's grid-management leading group (领导小组): where cases go
    when the grids cannot solve them. The partial unique index keeps one head per group."""

    __tablename__ = "leading_group_members"
    __table_args__ = (
        Index("uq_leading_group_one_head", "subdistrict_code", unique=True, postgresql_where=text("is_head")),
    )

    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    is_head: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
