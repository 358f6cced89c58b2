"""Every version of every grid, and the layer as it stood at any moment.

``grid_versions`` is written by the database trigger on every change and never rewritten;
version *n* of a grid was current from ``valid_from`` until ``valid_to`` (open while current).
The layer at time t is every version current at t that is not a retirement.
"""

from __future__ import annotations

from datetime import datetime

from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput
from gisgrid.core.geojson import BBox, feature_page, geometry_json
from gisgrid.core.paging import Page, Where
from gisgrid.core.scope import Scope
from gisgrid.grids.models import no_such_grid
from gisgrid.grids.service import grid_by_code


def history(session: Session, code: str, page: Page) -> Response:
    """The grid's versions, newest first, as a FeatureCollection (retirements have no geometry).

    Found by the grid's current code or by any code it had (a re-coded grid keeps its story).
    """
    row = session.execute(text(
        "SELECT grid_id FROM grid_versions WHERE code = :c ORDER BY valid_from DESC LIMIT 1"),
        {"c": code}).first()
    if row is None:
        grid_by_code(session, code)  # 422 for a malformed code, else 404
        raise no_such_grid(code)
    where = Where()
    where.add("v.grid_id = :grid_id", grid_id=row.grid_id)
    properties = {"version": "v.version", "code": "v.code", "name": "v.name", "level": "v.level",
                  "parent_code": "v.parent_code", "operation": "v.operation", "reason": "v.reason",
                  "changed_by": "v.changed_by", "valid_from": "v.valid_from", "valid_to": "v.valid_to",
                  "retired": "v.retired", "current": "v.valid_to IS NULL",
                  "area_m2": "round(ST_Area(v.geom::geography)::numeric, 1)"}
    return feature_page(session, rows="grid_versions v", ident="v.version",
                        geometry="CASE WHEN v.retired THEN NULL ELSE v.geom END", properties=properties,
                        where=where, page=page, order="v.version DESC")


def layer_as_of(session: Session, at: datetime, *, level: int | None, parent: str | None,
                bbox: BBox | None, page: Page, scope: Scope) -> Response:
    """The grids as they stood at ``at``: codes, names and shapes of that moment (``scope``: the
    caller's, on the versions' codes)."""
    if at.tzinfo is None:
        raise InvalidInput("as_of 须带时区，如 2026-05-01T00:00:00+08:00 / as_of needs a time zone, "
                           "e.g. 2026-05-01T00:00:00+08:00", where="as_of")
    where = Where()
    where.add(*scope.codes("v.code"))
    where.add("v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at) AND NOT v.retired", at=at)
    if level is not None:
        where.add("v.level = :level", level=level)
    if parent is not None:
        where.add("v.parent_code = :parent", parent=parent)
    if bbox is not None:
        where.add(BBox.sql("v.geom"), bbox.params())
    properties = {"code": "v.code", "name": "v.name", "level": "v.level", "parent_code": "v.parent_code",
                  "version": "v.version", "valid_from": "v.valid_from", "valid_to": "v.valid_to"}
    return feature_page(session, rows="grid_versions v", ident="v.code", geometry="v.geom", properties=properties,
                        where=where, page=page)


def current(session: Session, code: str) -> tuple[dict, int]:
    """One grid as a Feature (retired grids included, flagged) and its version, for the ETag."""
    grid_by_code(session, code)
    row = session.execute(text(f"""
        SELECT json_build_object(
            'type', 'Feature', 'id', g.code, 'geometry', {geometry_json('g.geom')},
            'properties', json_build_object(
                'code', g.code, 'name', g.name, 'level', g.level, 'parent_code', g.parent_code,
                'subdistrict_code', g.subdistrict_code, 'version', g.version,
                'retired', g.retired_at IS NOT NULL, 'retired_at', g.retired_at,
                'updated_at', g.updated_at,
                'area_m2', round(ST_Area(g.geom::geography)::numeric, 1)))::text AS feature, g.version
        FROM grids g WHERE g.code = :c"""), {"c": code}).one()
    return row.feature, row.version
