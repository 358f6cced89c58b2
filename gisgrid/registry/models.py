from __future__ import annotations

from datetime import date

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gisgrid.core.database import Base
from gisgrid.core.enums import BuildingUse, Occupancy, ResidenceType, Sex, pg_enum
from gisgrid.core.records import Versioned
from gisgrid.grids.models import GridMembership


class Building(Versioned, GridMembership, Base):
    """A building (楼栋) as a point, with its footprint when known; the point lies on the footprint."""

    __tablename__ = "all_buildings"
    __table_args__ = (
        CheckConstraint("floors BETWEEN 1 AND 200", name="floors_range"),
        CheckConstraint("entrances BETWEEN 1 AND 50", name="entrances_range"),
        CheckConstraint("flats_per_floor BETWEEN 0 AND 50", name="flats_per_floor_range"),
        CheckConstraint(
            "footprint IS NULL OR (ST_IsValid(footprint) AND ST_Covers(footprint, geom))",
            name="point_on_footprint",
        ),
        Index("ix_buildings_geom", "geom", postgresql_using="gist"),
        Index("ix_buildings_footprint", "footprint", postgresql_using="gist"),
        Index("ix_buildings_subdistrict", "subdistrict_code"),
        Index("uq_buildings_address_current", "address", unique=True, postgresql_where=text("ended_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(String(9), ForeignKey("subdistricts.code"))
    compound: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    floors: Mapped[int] = mapped_column(SmallInteger)
    entrances: Mapped[int] = mapped_column(SmallInteger, comment="单元 (stairwells) in the building")
    flats_per_floor: Mapped[int] = mapped_column(
        SmallInteger, comment="户 per 单元 per floor; 0 for buildings without dwellings"
    )
    use: Mapped[BuildingUse] = mapped_column(pg_enum(BuildingUse, "building_use"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    footprint = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=True)


class Household(Versioned, Base):
    """A household (户) at an address in a building: 单元 (entrance), floor and room."""

    __tablename__ = "all_households"
    __table_args__ = (
        Index("uq_households_flat", "building_id", "entrance", "floor", "room", unique=True,
              postgresql_where=text("ended_on IS NULL")),
        CheckConstraint("member_count >= 0", name="member_count_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("all_buildings.id"))
    entrance: Mapped[int] = mapped_column(SmallInteger, comment="单元")
    floor: Mapped[int] = mapped_column(SmallInteger)
    room: Mapped[str] = mapped_column(String(20))
    occupancy: Mapped[Occupancy] = mapped_column(pg_enum(Occupancy, "occupancy"))
    member_count: Mapped[int] = mapped_column(
        SmallInteger, comment="people living here; equals the residents registered when they are"
    )


class KeyGroup(Base):
    """A key group (重点人群) residents are tagged with; reference data, extendable as rows."""

    __tablename__ = "key_groups"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    sensitive: Mapped[bool] = mapped_column(
        Boolean, comment="sensitive personal information under PIPL: counts only on maps"
    )
    sort_order: Mapped[int] = mapped_column(SmallInteger)


class Resident(Versioned, Base):
    """A person living in a household (实有人口). ID number and phone are stored encrypted,
    with a masked form for display and a keyed blind index for exact lookup."""

    __tablename__ = "all_residents"
    __table_args__ = (
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
        Index("ix_residents_household", "household_id"),
        Index("ix_residents_id_number_index", "id_number_index"),
        Index("ix_residents_phone_index", "phone_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("all_households.id"))
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[Sex] = mapped_column(pg_enum(Sex, "sex"))
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    relation: Mapped[str] = mapped_column(String(20), comment="与户主关系")
    residence_type: Mapped[ResidenceType] = mapped_column(pg_enum(ResidenceType, "residence_type"))
    party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18), nullable=True)
    id_number_index: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(11), nullable=True)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    separated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"),
                                            comment="人户分离: registered in this household, living elsewhere")


class ResidentKeyGroup(Versioned, Base):
    """A resident's membership of a key group, from ``started_on`` (when known) to its end: one
    person can hold 低保 for two periods, but one open membership per group."""

    __tablename__ = "all_resident_key_groups"
    __table_args__ = (
        Index("ix_resident_key_groups_group", "key_group"),
        Index("ix_resident_key_groups_resident", "resident_id"),
        Index("uq_resident_key_groups_open", "resident_id", "key_group", unique=True,
              postgresql_where=text("ended_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("all_residents.id", ondelete="CASCADE"))
    key_group: Mapped[str] = mapped_column(String(40), ForeignKey("key_groups.code"))
    started_on: Mapped[date | None] = mapped_column(Date, nullable=True)
