"""GeoJSON (RFC 7946) built inside PostGIS, plus the query parameters every layer shares.

Features are assembled by the database (``json_build_object``/``ST_AsGeoJSON``) so a page of
thousands of features never round-trips through Python objects. Exterior rings are forced
counter-clockwise, coordinates are lon/lat with 7 decimals (about 1 cm), no ``crs`` member.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput
from gisgrid.core.paging import Page
from gisgrid.core.settings import get_settings

MEDIA_TYPE = "application/geo+json"
PRECISION = 7


def geometry_json(column: str) -> str:
    """SQL for an RFC 7946 geometry: CCW exteriors (CW holes), lon/lat, 7 decimals."""
    return f"ST_AsGeoJSON(ST_ForcePolygonCCW({column}), {PRECISION})::json"


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, raw: str) -> BBox:
        parts = raw.split(",")
        if len(parts) != 4:
            raise InvalidInput(
                f"bbox needs 4 numbers 'west,south,east,north', got {len(parts)}", where="bbox"
            )
        try:
            west, south, east, north = (float(p) for p in parts)
        except ValueError:
            raise InvalidInput(f"bbox has a value that is not a number: {raw!r}", where="bbox") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise InvalidInput("bbox values must be finite numbers", where="bbox")
        for name, value, limit in (("west", west, 180), ("east", east, 180),
                                   ("south", south, 90), ("north", north, 90)):
            if abs(value) > limit:
                raise InvalidInput(
                    f"bbox {name} {value} is out of range ±{limit} (lon/lat order: west,south,east,north)",
                    where="bbox",
                )
        if west > east or south > north:
            raise InvalidInput(
                f"bbox 颠倒 / bbox must be west,south,east,north with west ≤ east and south ≤ north, got {raw}",
                where="bbox",
            )
        cap = get_settings().max_bbox_degrees
        if east - west > cap or north - south > cap:
            raise InvalidInput(
                f"bbox 范围过大 / bbox is {east - west:g}° wide and {north - south:g}° tall, more than the cap of "
                f"{cap:g}° (GISGRID_MAX_BBOX_DEGREES): narrow it, or leave it out and page", where="bbox",
            )
        return cls(west, south, east, north)

    def params(self) -> dict[str, float]:
        return {"west": self.west, "south": self.south, "east": self.east, "north": self.north}

    @staticmethod
    def sql(column: str) -> str:
        """Index-friendly filter: the envelope is built once, the GiST index does the rest."""
        return f"ST_Intersects({column}, ST_MakeEnvelope(:west, :south, :east, :north, 4326))"


def bbox_param(
    bbox: str | None = Query(
        None,
        description="west,south,east,north in WGS84 degrees, at most GISGRID_MAX_BBOX_DEGREES (5°) a side",
        examples=["104.03,30.63,104.06,30.65"],
    ),
) -> BBox | None:
    return BBox.parse(bbox) if bbox is not None else None


def feature_collection(
    session: Session,
    *,
    features_sql: str,
    count_sql: str,
    params: dict,
    page: Page,
) -> Response:
    """Run a page query whose rows are single JSON features, plus its count, as one response.

    ``features_sql`` selects one text column, a serialised Feature, and carries its own stable
    ORDER BY; LIMIT/OFFSET are appended here.
    """
    matched = session.execute(text(count_sql), params).scalar_one()
    rows = session.execute(
        text(f"{features_sql} LIMIT :_limit OFFSET :_offset"),
        {**params, "_limit": page.limit, "_offset": page.offset},
    ).scalars().all()
    body = (
        '{"type":"FeatureCollection","numberMatched":' + str(matched)
        + ',"numberReturned":' + str(len(rows))
        + ',"features":[' + ",".join(rows) + "]}"
    )
    return Response(content=body, media_type=MEDIA_TYPE)
