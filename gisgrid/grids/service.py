"""Reading grids: listing with their load (households, people) as GeoJSON."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.geojson import BBox, Page, feature_collection, geometry_json
from gisgrid.grids.models import code_length

# Households and people of the buildings a grid covers. A vacant flat is not a household.
GRID_LOAD = """
LEFT JOIN LATERAL (
    SELECT count(h.id) FILTER (WHERE h.occupancy <> 'vacant') AS households,
           coalesce(sum(h.member_count), 0) AS people
    FROM buildings b JOIN households h ON h.building_id = b.id
    WHERE ST_Covers(g.geom, b.geom)
) load ON true
"""


def list_grids(
    session: Session,
    *,
    level: int | None,
    parent: str | None,
    bbox: BBox | None,
    page: Page,
) -> Response:
    where, params = ["true"], {}
    if level is not None:
        where.append("g.level = :level")
        params["level"] = level
    if parent is not None:
        if not parent.isdigit() or len(parent) not in (code_length(1), code_length(2)):
            raise InvalidInput(
                f"parent must be an L1 (12-digit) or L2 (15-digit) grid code, got {parent!r}",
                where="parent",
            )
        if session.execute(text("SELECT 1 FROM grids WHERE code = :c"), {"c": parent}).first() is None:
            raise NotFound(f"no grid with code {parent}", where="parent")
        where.append("g.parent_code = :parent")
        params["parent"] = parent
    if bbox is not None:
        where.append(BBox.sql("g.geom"))
        params.update(bbox.params())
    condition = " AND ".join(where)
    features = f"""
        SELECT json_build_object(
            'type', 'Feature',
            'id', g.code,
            'geometry', {geometry_json('g.geom')},
            'properties', json_build_object(
                'code', g.code, 'name', g.name, 'level', g.level, 'parent_code', g.parent_code,
                'subdistrict_code', g.subdistrict_code, 'version', g.version,
                'households', load.households, 'people', load.people
            )
        )::text
        FROM grids g {GRID_LOAD}
        WHERE {condition}
        ORDER BY g.code
    """
    count = f"SELECT count(*) FROM grids g WHERE {condition}"
    return feature_collection(session, features_sql=features, count_sql=count, params=params, page=page)
