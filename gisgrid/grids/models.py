from __future__ import annotations

import re
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.errors import InvalidInput, NotFound

LEVEL_NAMES = {
    1: ("社区片区", "community zone"),
    2: ("网格", "grid"),
    3: ("微网格", "micro-grid"),
}


def is_grid_code(value: str, levels: tuple[int, ...] = (1, 2, 3)) -> bool:
    """Whether ``value`` is a grid code of one of ``levels``: ASCII digits, 12/15/18 of them."""
    return bool(re.fullmatch(r"[0-9]+", value)) and len(value) in {code_length(level) for level in levels}


def check_grid_code(value: str, levels: tuple[int, ...] = (1, 2, 3), where: str = "code") -> int:
    """``value``'s level, or the one 422 for a malformed grid code: every entry point words it alike."""
    if not is_grid_code(value, levels):
        *first, last = (str(code_length(level)) for level in levels)
        zh = f"{'、'.join(first)} 或 {last}" if first else last
        en = f"{', '.join(first)} or {last}" if first else last
        raise InvalidInput(f"{where} 应为 {zh} 位数字的网格编码，收到 {value!r} / {where} must be a grid code of "
                           f"{en} digits, got {value!r}", where=where)
    return (len(value) - 9) // 3


def no_such_grid(code: str, where: str = "code", *, active: bool = False) -> NotFound:
    """The one 404 for a grid code that names no grid (``active``: no grid still in use), raised alike
    for a grid outside the caller's scope, so a refusal does not tell the two apart."""
    if active:
        return NotFound(f"没有编码为 {code} 的在用网格 / no active grid with code {code}", where=where)
    return NotFound(f"没有编码为 {code} 的网格 / no grid with code {code}", where=where)


def grid_name(value: str, where: str = "name") -> str:
    """A grid's name, stripped, or the one 422 for it: text that fits ``grids.name``, worded alike everywhere."""
    value = value.strip()
    if not value or len(value) > 100 or "\x00" in value:
        raise InvalidInput(f"{where}：名称应为 1–100 个字符的文字 / {where}: a name is text of 1 to 100 characters",
                           where=where)
    return value


def code_length(level: int) -> int:
    """L1 = 12 digits (county 6 + sub-district 3 + community 3); each level below adds 3."""
    return 9 + 3 * level


class Grid(Base):
    """One grid at level 1, 2 or 3; its code embeds its parent's code (CJ/T 213 style).

    A retired grid keeps its row and code (never reused) but leaves every layer and analysis.
    The database itself enforces the code scheme, the level/parent pairing, a valid
    MultiPolygon in SRID 4326, and (by trigger) a history row for every version.
    """

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level_1_to_3"),
        CheckConstraint("code ~ '^[0-9]+$' AND char_length(code) = 9 + 3 * level", name="code_digits"),
        CheckConstraint("left(code, 9) = subdistrict_code", name="code_in_subdistrict"),
        CheckConstraint("(level = 1) = (parent_code IS NULL)", name="parent_unless_l1"),
        CheckConstraint(
            "parent_code IS NULL OR (char_length(code) = char_length(parent_code) + 3"
            " AND left(code, char_length(parent_code)) = parent_code)",
            name="code_extends_parent",
        ),
        CheckConstraint("serial BETWEEN 1 AND 999", name="serial_range"),
        CheckConstraint("right(code, 3)::int = serial", name="serial_in_code"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_grids_geom", "geom", postgresql_using="gist"),
        Index("ix_grids_parent_code", "parent_code"),
        Index("ix_grids_level", "subdistrict_code", "level"),
        Index("ix_grids_active_geom", "geom", postgresql_using="gist",
              postgresql_where=text("retired_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    level: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(18), unique=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(15), ForeignKey("grids.code", deferrable=True, initially="IMMEDIATE"), nullable=True
    )
    serial: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True,
        comment="set when the grid's area went to its neighbours; the row and code are kept")


class GridVersion(Base):
    """Every shape a grid ever had, written by the ``grids_history`` trigger, never by hand.

    The row with ``valid_to IS NULL`` is the current version; the layer as it stood at time
    t is ``valid_from <= t AND (valid_to IS NULL OR valid_to > t)``.
    """

    __tablename__ = "grid_versions"
    __table_args__ = (
        UniqueConstraint("grid_id", "version", name="uq_grid_versions_grid_version"),
        Index("ix_grid_versions_geom", "geom", postgresql_using="gist"),
        Index("ix_grid_versions_valid", "valid_from", "valid_to"),
        Index("ix_grid_versions_code", "code"),
        Index("ix_grid_versions_parent_code", "parent_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(18))
    parent_code: Mapped[str | None] = mapped_column(String(15), nullable=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    operation: Mapped[str] = mapped_column(String(30))
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false",
                                          comment="this version retired the grid")


class GridMembership:
    """Which grid holds this point at each level. Stored, and refreshed in the same transaction
    as any boundary change (``gisgrid.grids.membership``), so reads never run a spatial join."""

    grid_l1_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True, index=True)
    grid_l2_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True, index=True)
    grid_l3_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True, index=True)
