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
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput
from gisgrid.core.paging import Page, Where, counted_page
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


def feature_page(
    session: Session,
    *,
    rows: str,
    ident: str,
    geometry: str,
    properties: dict[str, str],
    where: Where,
    page: Page,
    order: str | None = None,
) -> Response:
    """One page of a GeoJSON list with ``numberMatched``, every Feature serialised by the database:
    the one shape of ``/grids``, ``/buildings``, ``/units``, ``/shops``, ``/subdistrict``, the
    grid history and the layer items.

    ``rows`` is the FROM clause (its joins keep one row a feature, so it is counted as it is),
    ``ident`` the feature id and the stable order unless ``order`` gives another, ``geometry``
    the geometry column and ``properties`` each property's SQL by name.
    """
    pairs = ", ".join(f"'{name}', {sql}" for name, sql in properties.items())
    features_sql = f"""
        SELECT json_build_object('type', 'Feature', 'id', {ident}, 'geometry', {geometry_json(geometry)},
                                 'properties', json_build_object({pairs}))::text
        FROM {rows} WHERE {where.sql} ORDER BY {order or ident}
    """
    count_sql = f"SELECT count(*) FROM {rows} WHERE {where.sql}"
    matched, result = counted_page(session, rows_sql=features_sql, count_sql=count_sql, params=where.params,
                                   page=page)
    features = result.scalars().all()
    body = (
        '{"type":"FeatureCollection","numberMatched":' + str(matched)
        + ',"numberReturned":' + str(len(features))
        + ',"features":[' + ",".join(features) + "]}"
    )
    return Response(content=body, media_type=MEDIA_TYPE)
