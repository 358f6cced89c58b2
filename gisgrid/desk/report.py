"""What the field report form needs besides the cases' API: the outlines of the caller's own
grids to frame its map on (a worker's grids, a manager's zone's, an administrator's
sub-district's), and the name a report goes under."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal

OUTLINES = 300  # an administrator's sub-district has a few hundred grids at most; a worker a few


def frame(session: Session, caller: Principal) -> dict:
    """The L2 grids in the caller's scope as GeoJSON (WGS84) and [[s, w], [n, e]] around them;
    with no grid, the box of the sub-districts in scope."""
    condition, params = caller.scope.codes("g.code")
    rows = session.execute(text(f"""
        SELECT g.code, g.name, ST_AsGeoJSON(g.geom, 7) AS shape,
               ST_XMin(g.geom) AS w, ST_YMin(g.geom) AS s, ST_XMax(g.geom) AS e, ST_YMax(g.geom) AS n
        FROM grids g WHERE g.level = 2 AND g.retired_at IS NULL AND {condition}
        ORDER BY g.code LIMIT {OUTLINES}"""), params).mappings().all()
    outlines = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r["shape"]), "properties": {"code": r["code"], "name": r["name"]}}
        for r in rows]}
    if rows:
        box = (min(r["s"] for r in rows), min(r["w"] for r in rows), max(r["n"] for r in rows),
               max(r["e"] for r in rows))
    else:
        areas, params = caller.scope.codes("s.code")
        box = session.execute(text(f"""SELECT ST_YMin(x.b), ST_XMin(x.b), ST_YMax(x.b), ST_XMax(x.b) FROM
                                       (SELECT ST_Extent(s.boundary) AS b FROM subdistricts s WHERE {areas}) x"""),
                              params).one()
    bounds = [[box[0], box[1]], [box[2], box[3]]] if box[0] is not None else None
    return {"outlines": outlines, "bounds": bounds}


def reporter_name(session: Session, caller: Principal) -> str:
    """The caller's staff name (what the case's timeline shows), else the account's display name."""
    return session.execute(text("""SELECT coalesce(s.name, a.display_name) FROM accounts a
                                   LEFT JOIN staff s ON s.id = a.staff_id WHERE a.id = :id"""),
                           {"id": caller.account_id}).scalar() or caller.username
