from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.records import Versioned
from gisgrid.grids.models import GridMembership


class _Organisation(Versioned, GridMembership):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    name: Mapped[str] = mapped_column(String(150))
    kind: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)


class StationedUnit(_Organisation, Base):
    """A unit stationed in the sub-district (驻区单位): offices, schools, hospitals, firms."""

    __tablename__ = "all_stationed_units"
    __table_args__ = (Index("ix_stationed_units_geom", "geom", postgresql_using="gist"),)

    joined_nearest: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false"),
        comment="in no grid, so joined to the nearest one (驻社区单位就近划入网格)",
    )


class Shop(_Organisation, Base):
    """A shop or street-front outlet (商网 / 沿街商铺)."""

    __tablename__ = "all_shops"
    __table_args__ = (Index("ix_shops_geom", "geom", postgresql_using="gist"),)

    licence_no: Mapped[str | None] = mapped_column(String(30), nullable=True)
