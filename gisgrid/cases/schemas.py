"""What a case request may carry. Undeclared fields are refused (no mass assignment)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gisgrid.core.crs import to_wgs84
from gisgrid.core.enums import CaseStatus, ReporterKind
from gisgrid.core.errors import InvalidInput

Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(BaseModel):
    model_config = Strict

    lon: float = Field(description="longitude (x)")
    lat: float = Field(description="latitude (y)")
    crs: str = Field("WGS84", description="WGS84 (default), CGCS2000, GCJ-02 (AMap, Tencent), BD-09 (Baidu) or EPSG:n")

    def wgs84(self) -> tuple[float, float]:
        if not (math.isfinite(self.lon) and math.isfinite(self.lat)):
            raise InvalidInput("坐标不是有限数 / the coordinates are not finite numbers", where="location")
        lon, lat = to_wgs84([self.lon], [self.lat], self.crs)
        lon, lat = float(lon[0]), float(lat[0])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"坐标 ({self.lon}, {self.lat}) 超出经纬度范围 / coordinates out of range "
                               "(lon −180…180, lat −90…90; lon first)", where="location")
        return lon, lat


class CaseReport(BaseModel):
    """A report: where (a point, a building, or an address that names exactly one building),
    what (category and sub-type), a title and description, and who reports it."""

    model_config = Strict

    category: str = Field(max_length=40, examples=["urban_management"])
    subtype: str | None = Field(None, max_length=40, examples=["urban_management.city_appearance"])
    title: str = Field(min_length=1, max_length=200, examples=["路面坑洼"])
    description: str = Field("", max_length=5000)
    location: Location | None = None
    building_id: int | None = Field(None, ge=1)
    address: str | None = Field(None, min_length=1, max_length=200)
    reporter_name: str = Field(min_length=1, max_length=50)
    reporter_kind: ReporterKind = ReporterKind.GRID_WORKER
    reporter_staff_id: int | None = Field(None, ge=1)
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _one_place(self):
        if self.location is None and self.building_id is None and self.address is None:
            raise ValueError("give the place: location {lon, lat}, building_id or address")
        if self.location is not None and self.building_id is not None:
            raise ValueError("give location or building_id, not both")
        return self


class PublicReport(BaseModel):
    """What a resident sends from the public form: no account, a pin on the map."""

    model_config = Strict

    category: str = Field(max_length=40)
    subtype: str | None = Field(None, max_length=40)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    location: Location
    reporter_name: str | None = Field(None, max_length=50, description="optional; 匿名 when left out")

    def as_report(self) -> CaseReport:
        return CaseReport(category=self.category, subtype=self.subtype, title=self.title,
                          description=self.description, location=self.location,
                          reporter_name=self.reporter_name or "匿名", reporter_kind=ReporterKind.RESIDENT)


class Transition(BaseModel):
    """One step of the loop. ``assignee_staff_id`` only when dispatching (default: the lead of
    the L2 grid holding the place); ``feedback`` and ``satisfaction`` only at closure;
    ``duplicate_of`` (a case number) only for duplicates."""

    model_config = Strict

    to: CaseStatus
    note: str | None = Field(None, max_length=2000)
    assignee_staff_id: int | None = Field(None, ge=1)
    feedback: str | None = Field(None, max_length=2000)
    satisfaction: int | None = Field(None, ge=1, le=5)
    duplicate_of: str | None = Field(None, max_length=30)
    attachment_ids: list[int] = Field(default_factory=list, max_length=20,
                                      description="attachments uploaded to the case, to file with this step")


class Escalation(BaseModel):
    model_config = Strict

    note: str = Field(min_length=1, max_length=2000, description="why the grid cannot solve it")


class Reassignment(BaseModel):
    model_config = Strict

    assignee_staff_id: int = Field(ge=1)
    note: str = Field(min_length=1, max_length=2000)


class Rating(BaseModel):
    """The reporter's word on a closed case, by tracking code."""

    model_config = Strict

    satisfaction: int = Field(ge=1, le=5)
    feedback: str | None = Field(None, max_length=2000)
