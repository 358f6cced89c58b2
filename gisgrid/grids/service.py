"""Reading grids: lists with their load, point lookup, and the per-grid ledger (台帐)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.core.geojson import BBox, feature_page
from gisgrid.core.paging import Page, Where
from gisgrid.core.scope import Scope, code_condition
from gisgrid.core.settings import get_settings
from gisgrid.grids.models import check_grid_code, no_such_grid


def list_grids(
    session: Session,
    *,
    level: int | None,
    parent: str | None,
    bbox: BBox | None,
    page: Page,
    scope: Scope,
) -> Response:
    """Households and people from ``grid_loads``, as the grid layers and the grid table show them;
    ``scope``: the caller's, on the grids."""
    where = Where()
    where.add(*scope.codes("g.code"))
    where.add("g.retired_at IS NULL")
    if level is not None:
        where.add("g.level = :level", level=level)
    if parent is not None:
        check_grid_code(parent, (1, 2), where="parent")
        if session.execute(text("SELECT 1 FROM grids WHERE code = :c"), {"c": parent}).first() is None:
            raise no_such_grid(parent, where="parent")
        where.add("g.parent_code = :parent", parent=parent)
    if bbox is not None:
        where.add(BBox.sql("g.geom"), bbox.params())
    properties = {"code": "g.code", "name": "g.name", "level": "g.level", "parent_code": "g.parent_code",
                  "subdistrict_code": "g.subdistrict_code", "version": "g.version",
                  "households": "coalesce(load.households, 0)", "people": "coalesce(load.people, 0)"}
    return feature_page(session, rows="grids g LEFT JOIN grid_loads load ON load.grid_id = g.id", ident="g.code",
                        geometry="g.geom", properties=properties, where=where, page=page)


# One round trip: the sub-district and the grid at every level, each with its lead. For a point,
# ST_Intersects is ST_Covers (border included) on PostGIS's cached point-in-polygon path.
# Driver-style placeholders, so the async hot path and the session path share the statement.
LOOKUP = """
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom),
hit AS (
    SELECT DISTINCT ON (g.level) g.id, g.level, g.code, g.name
    FROM grids g, pt WHERE ST_Intersects(g.geom, pt.geom) AND g.retired_at IS NULL
    ORDER BY g.level, g.code
)
SELECT 0 AS level, s.code, s.name, NULL AS lead, NULL AS lead_phone
FROM (SELECT code, name FROM subdistricts, pt WHERE ST_Intersects(boundary, pt.geom)
      ORDER BY code LIMIT 1) s
UNION ALL
SELECT hit.level, hit.code, hit.name, lead.name, lead.phone
FROM hit LEFT JOIN grid_leads lead ON lead.grid_id = hit.id
ORDER BY 1
"""
LOOKUP_COLUMNS = ("level", "code", "name", "lead", "lead_phone")


def lookup_answer(lon: float, lat: float, rows: list[tuple], sees: Callable[[str], bool] = lambda code: True) -> dict:
    """Shape the rows of ``LOOKUP`` (level 0 is the sub-district) as the answer users read,
    keeping the sub-district and grids the caller ``sees``: outside their scope, a point is in
    nothing they know of."""
    rows = [r for r in rows if sees(r[1])]
    subdistrict = next(({"code": r[1], "name": r[2]} for r in rows if r[0] == 0), None)
    grids = [dict(zip(LOOKUP_COLUMNS, r, strict=True)) for r in rows if r[0] > 0]
    if subdistrict is None and not grids:
        message = "该点不在任何街道内 / the point is outside every sub-district"
    elif len(grids) < 3:
        missing = sorted({1, 2, 3} - {g["level"] for g in grids})
        message = f"该点不在第 {missing} 级网格内 / the point is in no grid at level(s) {missing}"
    else:
        message = "ok"
    return {"lon": lon, "lat": lat, "inside": subdistrict is not None, "subdistrict": subdistrict,
            "grids": grids, "message": message}


def lookup(session: Session, lon: float, lat: float) -> dict:
    """The grid at every level holding a WGS84 point (same border rule as stored membership)."""
    rows = session.connection().exec_driver_sql(LOOKUP, {"lon": lon, "lat": lat}).all()
    return lookup_answer(lon, lat, [tuple(r) for r in rows])


async def lookup_async(pool, lon: float, lat: float, sees: Callable[[str], bool]) -> dict:
    """The same lookup on the app's async connection pool: the hot path of ``GET /lookup``."""
    async with pool.connection() as conn:
        cursor = await conn.execute(LOOKUP, {"lon": lon, "lat": lat}, prepare=True)
        return lookup_answer(lon, lat, await cursor.fetchall(), sees)


def grid_by_code(session: Session, code: str):
    check_grid_code(code)
    row = session.execute(text("SELECT id, code, name, level, parent_code, subdistrict_code, version"
                               " FROM grids WHERE code = :c"), {"c": code}).first()
    if row is None:
        raise no_such_grid(code)
    return row


def grid_in_scope(session: Session, principal: Principal, code: str) -> None:
    """A grid outside the caller's scope does not exist for them: 404, as for an unknown code
    (a malformed code is still 422, as for anyone)."""
    grid_by_code(session, code)
    if not session.execute(text(f"SELECT {code_condition(':code')}"), {"code": code, **principal.scope_params()}).scalar():
        raise no_such_grid(code)


LEDGER = """
WITH members AS (
    SELECT b.id FROM buildings b WHERE b.grid_l{level}_id = :id
),
people AS (
    SELECT r.id, r.party_member FROM residents r
    JOIN households h ON h.id = r.household_id JOIN members m ON m.id = h.building_id
)
SELECT
    (SELECT count(*) FROM members) AS buildings,
    coalesce((SELECT l.households FROM grid_loads l WHERE l.grid_id = :id), 0) AS households,
    (SELECT count(*) FROM households h JOIN members m ON m.id = h.building_id
      WHERE h.occupancy = 'rented') AS rented_households,
    coalesce((SELECT l.people FROM grid_loads l WHERE l.grid_id = :id), 0) AS people,
    (SELECT count(*) FROM people) AS registered_residents,
    (SELECT count(*) FROM people WHERE party_member) AS party_members,
    (SELECT count(*) FROM stationed_units u WHERE u.grid_l{level}_id = :id) AS units,
    (SELECT count(*) FROM shops s WHERE s.grid_l{level}_id = :id) AS shops,
    (SELECT count(*) FROM grids c WHERE c.parent_code = :code AND c.retired_at IS NULL) AS children
"""

KEY_GROUP_COUNTS = """
SELECT k.code, k.name_zh, k.name_en, count(rk.resident_id) AS people
FROM key_groups k
LEFT JOIN (
    SELECT rk.resident_id, rk.key_group FROM resident_key_groups rk
    JOIN residents r ON r.id = rk.resident_id JOIN households h ON h.id = r.household_id
    JOIN buildings b ON b.id = h.building_id WHERE b.grid_l{level}_id = :id
) rk ON rk.key_group = k.code
GROUP BY k.code, k.name_zh, k.name_en, k.sort_order ORDER BY k.sort_order
"""

TEAM = """
SELECT s.id, s.name, s.phone, s.title, a.role, g.code AS grid_code
FROM grid_assignments a JOIN staff s ON s.id = a.staff_id JOIN grids g ON g.id = a.grid_id
WHERE g.id = :id AND s.active
ORDER BY a.role = 'grid_lead' DESC, a.role, s.name
"""


def ledger(session: Session, code: str) -> dict:
    """The grid's 台帐: the figures of its notice board (公示牌), rolled up over its children."""
    from gisgrid.core.enums import StaffRole

    grid = grid_by_code(session, code)
    params = {"id": grid.id, "code": grid.code}
    figures = dict(session.execute(text(LEDGER.format(level=grid.level)), params).one()._mapping)
    key_groups = [dict(r._mapping) for r in session.execute(text(KEY_GROUP_COUNTS.format(level=grid.level)), params)]
    team = []
    for row in session.execute(text(TEAM), params):
        member = dict(row._mapping)
        member["role_label"] = StaffRole(member["role"]).label_zh
        team.append(member)
    bands = get_settings().load_bands[grid.level]
    lead = next((m for m in team if m["role"] == "grid_lead"), None)
    return {
        "code": grid.code,
        "name": grid.name,
        "level": grid.level,
        "parent_code": grid.parent_code,
        "version": grid.version,
        **figures,
        "load": {
            "households": bands.households.classify(figures["households"]),
            "people": bands.people.classify(figures["people"]),
            "households_band": [bands.households.low, bands.households.high],
            "people_band": [bands.people.low, bands.people.high],
        },
        "key_groups": key_groups,
        "lead": lead,
        "team": team,
    }


def membership_filter(session: Session, code: str, alias: str) -> tuple[str, dict]:
    """SQL condition selecting the points (``alias``) a grid holds, children included."""
    grid = grid_by_code(session, code)
    return f"{alias}.grid_l{grid.level}_id = :grid_id", {"grid_id": grid.id}


def grid_codes_json(alias: str) -> str:
    """SQL for the codes of the grids holding the point ``alias``, L1 first, as a JSON array
    (NULL in none): how buildings, units and shops name their grids."""
    return (f"(SELECT json_agg(g.code ORDER BY g.level) FROM grids g "
            f"WHERE g.id IN ({alias}.grid_l1_id, {alias}.grid_l2_id, {alias}.grid_l3_id))")


def grid_table(session: Session, *, parent: str | None, subdistrict: str | None,
               scope: Scope) -> list[dict]:
    """The grids one level below ``parent`` (a sub-district's communities when it is None) in the
    caller's ``scope``, each with its load against both bands (households and people, from the
    exact load table) and its lead: the list a community manager keeps on one page."""
    condition, params = scope.codes("g.code")
    rows = session.execute(text("""
        SELECT g.code, g.name, g.level, coalesce(l.households, 0) AS households, coalesce(l.people, 0) AS people,
               lead.name AS lead,
               (SELECT count(*) FROM grids c WHERE c.parent_code = g.code AND c.retired_at IS NULL) AS children
        FROM grids g LEFT JOIN grid_loads l ON l.grid_id = g.id LEFT JOIN grid_leads lead ON lead.grid_id = g.id
        WHERE g.retired_at IS NULL AND (CASE WHEN CAST(:parent AS text) IS NULL
                                             THEN g.level = 1 AND g.subdistrict_code = :sd
                                             ELSE g.parent_code = :parent END) AND """ + condition + """
        ORDER BY g.code"""), {"parent": parent, "sd": subdistrict, **params}).mappings()
    table = []
    for row in rows:
        bands = get_settings().load_bands[row["level"]]
        table.append({**row, "households_band": [bands.households.low, bands.households.high],
                      "households_status": bands.households.classify(row["households"]),
                      "people_band": [bands.people.low, bands.people.high],
                      "people_status": bands.people.classify(row["people"])})
    return table


def buildings_of(session: Session, code: str, scope: Scope) -> list[dict]:
    """The buildings of an L2 grid in ``scope``, with their households: a worker's way to each diagram."""
    condition, params = scope.rows("b")
    return [dict(r) for r in session.execute(text(f"""
        SELECT b.id, b.name, b.address, coalesce(l.households, 0) AS households
        FROM buildings b JOIN grids g ON g.id = b.grid_l2_id LEFT JOIN building_loads l ON l.building_id = b.id
        WHERE g.code = :code AND {condition} ORDER BY b.name, b.id"""), {"code": code, **params}).mappings()]
