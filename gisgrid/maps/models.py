from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class TileCache(Base):
    """Rendered vector tiles, swept by triggers on the tables they show (migration 0007)."""

    __tablename__ = "tile_cache"
    __table_args__ = (
        Index("ix_tile_cache_bbox", "bbox", postgresql_using="gist"),
        {"prefixes": ["UNLOGGED"]},
    )

    layer: Mapped[str] = mapped_column(Text, primary_key=True, comment="layer name and definition digest")
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    x: Mapped[int] = mapped_column(Integer, primary_key=True)
    y: Mapped[int] = mapped_column(Integer, primary_key=True)
    tables: Mapped[list[str]] = mapped_column(ARRAY(Text))
    bbox = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)
    tile: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BuildingLoad(Base):
    """Per building: occupied households, people, key-group residents and the L2 grid's code, kept
    exact by triggers (migration 0008), so the buildings layer reads one narrow row a feature
    instead of counting (and joining grids) at tile time."""

    __tablename__ = "building_loads"
    __table_args__ = {"comment": "per building: occupied households, people, key-group residents, L2 grid code "
                                 "(triggers)"}

    building_id: Mapped[int] = mapped_column(ForeignKey("all_buildings.id", ondelete="CASCADE"), primary_key=True)
    households: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)
    key_group_people: Mapped[int] = mapped_column(Integer)
    grid_code: Mapped[str | None] = mapped_column(String(18), nullable=True)


class GridLoad(Base):
    """Per grid: occupied households and people of the buildings it holds at its level, kept
    exact by triggers (migration 0008)."""

    __tablename__ = "grid_loads"
    __table_args__ = {"comment": "per grid: occupied households and people of its buildings (triggers)"}

    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), primary_key=True)
    households: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)
