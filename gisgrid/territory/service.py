"""Reading the sub-district(s): boundary, area and headline figures."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.geojson import feature_page
from gisgrid.core.paging import Page, Where
from gisgrid.core.scope import Scope


def subdistricts(session: Session, *, code: str | None, page: Page, scope: Scope) -> Response:
    """``scope``: the caller's, on the sub-districts."""
    where = Where()
    if code:
        where.add("s.code = :code", code=code)
    where.add(*scope.codes("s.code"))
    properties = {
        "code": "s.code", "name": "s.name", "county": "s.county", "city": "s.city",
        "area_km2": "round((ST_Area(s.boundary::geography) / 1e6)::numeric, 3)",
        "grids": """(SELECT json_object_agg(level, n) FROM (
            SELECT level, count(*) AS n FROM grids WHERE subdistrict_code = s.code AND retired_at IS NULL
            GROUP BY level) per_level)""",
        "buildings": "(SELECT count(*) FROM buildings WHERE subdistrict_code = s.code)",
        "households": """(SELECT coalesce(sum(l.households), 0) FROM buildings b
            JOIN building_loads l ON l.building_id = b.id WHERE b.subdistrict_code = s.code)""",
        "people": """(SELECT coalesce(sum(l.people), 0) FROM buildings b
            JOIN building_loads l ON l.building_id = b.id WHERE b.subdistrict_code = s.code)""",
    }
    return feature_page(session, rows="subdistricts s", ident="s.code", geometry="s.boundary", properties=properties,
                        where=where, page=page)
