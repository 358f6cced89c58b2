"""The ledger as it stood on a day, and the week's changes per grid (the weekly summary of 动态更新).

"As of" is the ledger's own time: the versions in force at the end of that local day, as they
were recorded then. A change recorded today about last month (a death reported late) shows in
today's figures, not in last month's, so a figure once reported reads the same later.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.calendar import local_midnight
from gisgrid.core.records import as_of
from gisgrid.core.scope import Scope
from gisgrid.grids.models import no_such_grid
from gisgrid.grids.service import grid_by_code
from gisgrid.ledger import records
from gisgrid.ledger.kinds import KINDS

CHANGES_LIMIT = 500
# a person's household and building as they were at the week's end: a household that moves later
# keeps this week's changes of its residents where they were made
HOUSEHOLD_THEN = f"{as_of('households', 'end')} h ON h.id = {{person}}.household_id JOIN all_buildings p ON p.id = h.building_id"
PLACED_THEN = {"residents": "JOIN " + HOUSEHOLD_THEN.format(person="r"),
               "resident_key_groups": f"JOIN {as_of('residents', 'end')} pr ON pr.id = r.resident_id JOIN "
                                      + HOUSEHOLD_THEN.format(person="pr")}


def _grid(session: Session, code: str, scope: Scope):
    """A grid in ``scope``, or the 404 of one that does not exist."""
    grid = grid_by_code(session, code)
    condition, params = scope.codes(":code")
    if not session.execute(text(f"SELECT {condition}"), {**params, "code": code}).scalar():
        raise no_such_grid(code)
    return grid


def ledger_as_of(session: Session, code: str, day: date, scope: Scope) -> dict:
    """Buildings, households, people, residents, key-group members, units and shops of a grid
    (its children included) at the end of ``day``, and the same per grid one level down."""
    grid = _grid(session, code, scope)
    moment = local_midnight(day, 1)
    column = f"grid_l{grid.level}_id"
    params = {"as_of": moment, "grid": grid.id}
    by = f"b.grid_l{grid.level + 1}_id" if grid.level < 3 else "b." + column
    rows = session.execute(text(f"""
        WITH b AS (SELECT * FROM {as_of('buildings')} b WHERE b.{column} = :grid),
        h AS (SELECT h.building_id, count(*) FILTER (WHERE h.occupancy <> 'vacant') AS households,
                     sum(h.member_count) AS people
              FROM {as_of('households')} h WHERE h.building_id IN (SELECT id FROM b) GROUP BY 1),
        r AS (SELECT h.building_id, count(*) AS residents
              FROM {as_of('residents')} r JOIN {as_of('households')} h ON h.id = r.household_id
              WHERE h.building_id IN (SELECT id FROM b) GROUP BY 1)
        SELECT {by} AS unit, count(*) AS buildings, coalesce(sum(h.households), 0)::int AS households,
               coalesce(sum(h.people), 0)::int AS people, coalesce(sum(r.residents), 0)::int AS residents
        FROM b LEFT JOIN h ON h.building_id = b.id LEFT JOIN r ON r.building_id = b.id
        GROUP BY 1"""), params).mappings().all()
    groups = session.execute(text(f"""
        SELECT k.key_group, count(DISTINCT k.resident_id) AS n
        FROM {as_of('resident_key_groups')} k
        JOIN {as_of('residents')} r ON r.id = k.resident_id JOIN {as_of('households')} h ON h.id = r.household_id
        JOIN {as_of('buildings')} b ON b.id = h.building_id
        WHERE b.{column} = :grid GROUP BY 1 ORDER BY 1"""), params).all()
    places = {name: session.execute(text(f"SELECT count(*) FROM {as_of(name)} p WHERE p.{column} = :grid"),
                                    params).scalar() for name in ("stationed_units", "shops")}
    codes = dict(session.execute(text("SELECT id, code FROM grids WHERE id = ANY(:ids)"),
                                 {"ids": [r["unit"] for r in rows if r["unit"] is not None]}).all())
    total = {k: sum(r[k] for r in rows) for k in ("buildings", "households", "people", "residents")}
    return {"grid": code, "as_of": day.isoformat(), "at": moment.isoformat(), **total,
            "key_groups": {g: n for g, n in groups}, "units": places["stationed_units"], "shops": places["shops"],
            "by_grid": sorted(({"code": codes.get(r["unit"]), **{k: r[k] for k in total}} for r in rows),
                              key=lambda r: r["code"] or "")}


def changes(session: Session, code: str, start: datetime, end: datetime, scope: Scope) -> list[dict]:
    """Every version recorded between ``start`` and ``end`` of a record the grid held then (a
    building, its households and their residents, key-group memberships, units and shops),
    newest first, each with what it changed. A kept version is placed where it was when it was
    replaced (its building, or a unit's or shop's own grids), so a household that moves later
    does not take this week's changes out of this grid."""
    grid = _grid(session, code, scope)
    column = f"grid_l{grid.level}_id"
    found = []
    for name in ("buildings", "households", "residents", "resident_key_groups", "stationed_units", "shops"):
        kind = KINDS[name]
        kept_there = (f"(v.data->>'{column}')::int = :grid" if kind.place_alias == "r" and name != "buildings" else
                      f"v.building_id IN (SELECT id FROM all_buildings WHERE {column} = :grid)")
        found += [(name, *row) for row in session.execute(text(f"""
            SELECT r.id, r.version, r.valid_from FROM {kind.table} r {PLACED_THEN.get(name, kind.joins)}
            WHERE {kind.place_alias}.{column} = :grid AND r.valid_from >= :start AND r.valid_from < :end
            UNION ALL
            SELECT v.record_id, v.version, v.valid_from FROM ledger_versions v
            WHERE v.kind = :kind AND {kept_there} AND v.valid_from >= :start AND v.valid_from < :end"""),
            {"grid": grid.id, "start": start, "end": end, "kind": name}).all()]
    found.sort(key=lambda c: c[3], reverse=True)
    histories: dict[tuple[str, int], dict[int, dict]] = {}  # a record changed often is read once
    out = []
    for name, record_id, version, _ in found[:CHANGES_LIMIT]:
        kind = KINDS[name]
        if (name, record_id) not in histories:
            histories[name, record_id] = {v["version"]: v for v in records.history(session, kind, record_id, scope)}
        out.append({"kind": name, "label": list(kind.label), "record_id": record_id,
                    **histories[name, record_id][version]})
    return out
