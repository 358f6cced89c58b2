"""Which grid holds a point, at every level — stored on buildings, stationed units and shops.

Rule (deterministic, one grid per level): a point belongs to the grid whose closed polygon
covers it (the border counts, holes do not); on a border shared by two grids of
one level, the grid with the smaller code wins (codes number west→east, north→south, so the
west/north grid takes its border). Below L1 the choice is among the descendants of the nearest
grid chosen above, so a point's grids are always one branch of the hierarchy: on a tie the L3 is
inside the chosen L2, never the neighbour's; where no child of the chosen grid covers the point,
the point has no grid at that level (it lies in that grid's blind spot). A point outside every
grid above keeps the choice among all grids (a spill-over, which coverage reports). A stationed
unit (驻区单位) left with no L2 grid joins the nearest L2 grid of its sub-district (就近划入), with
that grid's parent and nearest child, and is flagged ``joined_nearest``.

Membership is stored, not computed per read: every boundary change calls :func:`refresh` in its
own transaction with the changed area, so only the points in that area are recomputed and only
those whose grids changed are written.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.sql import identifier

POINT_TABLES = ("buildings", "stationed_units", "shops")

# Grids drive the join (LATERAL): each polygon is prepared once by PostGIS and tested against
# the points its index probe returns. For a point, ST_Intersects is exactly ST_Covers (border
# included) and takes PostGIS's cached point-in-polygon path, about five times faster here.
# Then level by level: the smallest code among the grids that cover the point and descend from
# the nearest grid chosen above (a code begins with its parent's, the database enforces it);
# among all of them when none was chosen above.
_COMPUTE = """
WITH hits AS MATERIALIZED (
    SELECT p.id, g.level, g.id AS grid_id, g.code, g.parent_code
    FROM grids g CROSS JOIN LATERAL (
        SELECT p.id FROM {table} p WHERE ST_Intersects(g.geom, p.geom) AND {scope}
    ) p
    WHERE g.retired_at IS NULL AND {grid_scope}
), l1 AS (
    SELECT DISTINCT ON (id) id, grid_id, code FROM hits WHERE level = 1 ORDER BY id, code
), l2 AS (
    SELECT DISTINCT ON (h.id) h.id, h.grid_id, h.code
    FROM hits h LEFT JOIN l1 up ON up.id = h.id
    WHERE h.level = 2 AND (up.code IS NULL OR h.parent_code = up.code)
    ORDER BY h.id, h.code
), l3 AS (
    SELECT DISTINCT ON (h.id) h.id, h.grid_id
    FROM hits h LEFT JOIN l2 ON l2.id = h.id LEFT JOIN l1 ON l1.id = h.id
    WHERE h.level = 3 AND (coalesce(l2.code, l1.code) IS NULL
                           OR left(h.code, length(coalesce(l2.code, l1.code))) = coalesce(l2.code, l1.code))
    ORDER BY h.id, h.code
), computed AS (
    SELECT p.id, p.grid_l1_id AS o1, p.grid_l2_id AS o2, p.grid_l3_id AS o3,
           l1.grid_id AS l1, l2.grid_id AS l2, l3.grid_id AS l3
    FROM {table} p LEFT JOIN l1 ON l1.id = p.id LEFT JOIN l2 ON l2.id = p.id
         LEFT JOIN l3 ON l3.id = p.id
    WHERE {scope}
)
UPDATE {table} p
SET grid_l1_id = c.l1, grid_l2_id = c.l2, grid_l3_id = c.l3 {extra_set}
FROM computed c
WHERE p.id = c.id
  AND ((p.grid_l1_id, p.grid_l2_id, p.grid_l3_id) IS DISTINCT FROM (c.l1, c.l2, c.l3) {extra_diff})
{returning}"""
RETURNING = "RETURNING p.id, c.o1, c.o2, c.o3, p.grid_l1_id, p.grid_l2_id, p.grid_l3_id"

# Nearest by true distance: candidates by the index's planar distance, then metres on the ellipsoid.
_JOIN_NEAREST = """
WITH lonely AS (
    SELECT u.id, u.geom, u.subdistrict_code FROM stationed_units u
    WHERE u.grid_l2_id IS NULL AND {scope}
), nearest AS (
    SELECT u.id, pick.id AS l2, pick.code, pick.parent_code
    FROM lonely u CROSS JOIN LATERAL (
        SELECT c.id, c.code, c.parent_code FROM (
            SELECT g.id, g.code, g.parent_code, g.geom FROM grids g
            WHERE g.level = 2 AND g.subdistrict_code = u.subdistrict_code AND g.retired_at IS NULL
            ORDER BY g.geom <-> u.geom LIMIT 8
        ) c
        ORDER BY ST_Distance(c.geom::geography, u.geom::geography), c.code LIMIT 1
    ) pick
)
UPDATE stationed_units s
SET grid_l2_id = n.l2,
    grid_l1_id = (SELECT id FROM grids WHERE code = n.parent_code),
    grid_l3_id = (SELECT g3.id FROM grids g3 WHERE g3.parent_code = n.code AND g3.retired_at IS NULL
                  ORDER BY ST_Distance(g3.geom::geography, s.geom::geography), g3.code LIMIT 1),
    joined_nearest = true
FROM nearest n
WHERE s.id = n.id
{returning}"""


def refresh(
    session: Session,
    *,
    area_ewkt: str | None = None,
    subdistrict: str | None = None,
    tables: tuple[str, ...] = POINT_TABLES,
) -> dict[str, int]:
    """Recompute membership of the points in ``area_ewkt`` (or a sub-district, or everything).

    Returns the rows whose grids changed, per table. ``cases`` may be named to assign new cases
    once: a case keeps the grids it was reported in, so boundary changes never refresh it.
    """
    return {table: len(rows) for table, rows in
            _run(session, area_ewkt, subdistrict, tables, returning=False).items()}


def moves(session: Session, area_ewkt: str) -> dict[str, dict[int, tuple[tuple, tuple]]]:
    """Refresh the points in ``area_ewkt`` and say which moved: table → id → (old, new) grid ids
    (L1, L2, L3). A unit that leaves every grid and joins the nearest one again is no move."""
    out: dict[str, dict[int, tuple[tuple, tuple]]] = {}
    for table, rows in _run(session, area_ewkt, None, POINT_TABLES, returning=True).items():
        changed: dict[int, tuple[tuple, tuple]] = {}
        for row in rows:
            old = changed[row[0]][0] if row[0] in changed else tuple(row[1:4])
            changed[row[0]] = (old, tuple(row[4:7]))
        out[table] = {k: v for k, v in changed.items() if v[0] != v[1]}
    return out


def _run(session, area_ewkt, subdistrict, tables, *, returning: bool) -> dict[str, list]:
    params: dict[str, str] = {}

    def points(alias: str) -> str:
        """The points refreshed, as a condition on ``alias``: in the area, the sub-district or all."""
        if area_ewkt is not None:
            return f"ST_Intersects({alias}.geom, ST_GeomFromEWKT(:area))"
        return f"{alias}.subdistrict_code = :subdistrict" if subdistrict is not None else "true"

    grid_scope = "true"
    if area_ewkt is not None:
        grid_scope = "ST_Intersects(g.geom, ST_GeomFromEWKT(:area))"
        params["area"] = area_ewkt
    elif subdistrict is not None:
        grid_scope = "g.geom && (SELECT ST_Extent(x.geom)::geometry FROM {table} x WHERE x.subdistrict_code = :subdistrict)"
        params["subdistrict"] = subdistrict
    changed: dict[str, list] = {}
    for table in (identifier(t, (*POINT_TABLES, "cases")) for t in tables):
        units = table == "stationed_units"
        sql = _COMPUTE.format(
            table=table,
            scope=points("p"),
            grid_scope=grid_scope.format(table=table),
            extra_set=", joined_nearest = false" if units else "",
            extra_diff="OR p.joined_nearest" if units else "",
            returning=RETURNING if returning else "",
        )
        result = session.execute(text(sql), params)
        changed[table] = result.all() if returning else [None] * result.rowcount
    if "stationed_units" in tables:
        sql = _JOIN_NEAREST.format(
            scope=points("u"),
            returning="RETURNING s.id, NULL, NULL, NULL, s.grid_l1_id, s.grid_l2_id, s.grid_l3_id"
            if returning else "")
        result = session.execute(text(sql), params)
        changed["stationed_units"] += result.all() if returning else [None] * result.rowcount
    return changed
