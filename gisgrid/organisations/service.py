"""Reading stationed units and shops as GeoJSON, filtered by grid and bbox."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.geojson import BBox, feature_page
from gisgrid.core.paging import Page, Where
from gisgrid.core.scope import Scope
from gisgrid.grids.service import grid_codes_json, membership_filter

# What each table carries beyond the properties units and shops share.
OWN_PROPERTIES = {
    "stationed_units": {"joined_nearest": "o.joined_nearest"},
    "shops": {"licence_no": "o.licence_no"},
}


def list_organisations(
    session: Session, table: str, *, grid: str | None, kind: str | None, bbox: BBox | None, page: Page,
    scope: Scope,
) -> Response:
    """``scope``: the caller's, on the units or shops."""
    where = Where()
    where.add(*scope.rows("o"))
    if grid is not None:
        where.add(*membership_filter(session, grid, "o"))
    if kind is not None:
        where.add("o.kind = :kind", kind=kind)
    if bbox is not None:
        where.add(BBox.sql("o.geom"), bbox.params())
    properties = {"id": "o.id", "name": "o.name", "kind": "o.kind", "address": "o.address",
                  "contact_name": "o.contact_name", "contact_phone": "o.contact_phone", **OWN_PROPERTIES[table],
                  "grid_codes": grid_codes_json("o")}
    return feature_page(session, rows=f"{table} o", ident="o.id", geometry="o.geom", properties=properties,
                        where=where, page=page)
