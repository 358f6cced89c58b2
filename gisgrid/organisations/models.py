from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base


class _Organisation:
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

    __tablename__ = "stationed_units"
    __table_args__ = (Index("ix_stationed_units_geom", "geom", postgresql_using="gist"),)


class Shop(_Organisation, Base):
    """A shop or street-front outlet (商网 / 沿街商铺)."""

    __tablename__ = "shops"
    __table_args__ = (Index("ix_shops_geom", "geom", postgresql_using="gist"),)

    licence_no: Mapped[str | None] = mapped_column(String(30), nullable=True)
