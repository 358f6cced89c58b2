"""Reading the sub-district(s): boundary, area and headline figures."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.geojson import feature_collection, geometry_json
from gisgrid.core.paging import Page
from gisgrid.core.scope import Scope


def subdistricts(session: Session, *, code: str | None, page: Page, scope: Scope) -> Response:
    """``scope``: the caller's, on the sub-districts."""
    condition, params = scope.codes("s.code")
    where = ("s.code = :code AND " if code else "") + condition
    features = f"""
        SELECT json_build_object(
            'type', 'Feature',
            'id', s.code,
            'geometry', {geometry_json('s.boundary')},
            'properties', json_build_object(
                'code', s.code, 'name', s.name, 'county', s.county, 'city', s.city,
                'area_km2', round((ST_Area(s.boundary::geography) / 1e6)::numeric, 3),
                'grids', (SELECT json_object_agg(level, n) FROM (
                    SELECT level, count(*) AS n FROM grids WHERE subdistrict_code = s.code AND retired_at IS NULL
                    GROUP BY level) per_level),
                'buildings', (SELECT count(*) FROM buildings WHERE subdistrict_code = s.code),
                'households', (SELECT coalesce(sum(l.households), 0) FROM buildings b
                               JOIN building_loads l ON l.building_id = b.id WHERE b.subdistrict_code = s.code),
                'people', (SELECT coalesce(sum(l.people), 0) FROM buildings b
                           JOIN building_loads l ON l.building_id = b.id WHERE b.subdistrict_code = s.code)
            )
        )::text
        FROM subdistricts s WHERE {where} ORDER BY s.code
    """
    count = f"SELECT count(*) FROM subdistricts s WHERE {where}"
    return feature_collection(
        session, features_sql=features, count_sql=count, params={"code": code, **params}, page=page
    )
