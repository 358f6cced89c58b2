"""What the grid worker's pages show beyond one ledger record: their grids with loads, a grid's
buildings and outline, a household with its residents and visits, the people who may log a
visit, and a grid's changes of a week.

Every function takes the caller's scope: a grid or record outside it is the 404 of one that does
not exist (the ledger's own reads decide for records; ``grid_in`` for grids).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.scope import Scope
from gisgrid.grids.models import no_such_grid
from gisgrid.grids.service import grid_by_code, membership_filter
from gisgrid.ledger import records, summary
from gisgrid.ledger.kinds import BOOKKEEPING, KINDS
from gisgrid.maps import boards
from gisgrid.reports.weekly import week_bounds

BUILDINGS, HOUSEHOLDS, RESIDENTS = KINDS["buildings"], KINDS["households"], KINDS["residents"]
GRID_LIMIT = 500       # a city-wide administrator's list stops here; workers have a few grids
MOVE_TARGETS = 2000    # the buildings a household may move to, offered in one list
RECENT_VISITS = 10


def my_grids(session: Session, scope: Scope) -> list[dict]:
    """The L2 grids in scope (a worker's own, a manager's zone's), with loads, buildings and lead."""
    condition, params = scope.codes("g.code")
    return [dict(r) for r in session.execute(text(f"""
        SELECT g.code, g.name, coalesce(l.households, 0) AS households, coalesce(l.people, 0) AS people,
               (SELECT count(*) FROM buildings b WHERE b.grid_l2_id = g.id) AS buildings,
               (SELECT s.name FROM grid_leads gl JOIN staff s ON s.id = gl.staff_id WHERE gl.grid_id = g.id) AS lead
        FROM grids g LEFT JOIN grid_loads l ON l.grid_id = g.id
        WHERE g.level = 2 AND g.retired_at IS NULL AND {condition}
        ORDER BY g.code LIMIT {GRID_LIMIT}"""), params).mappings()]


def grid_in(session: Session, code: str, scope: Scope):
    """A grid in ``scope`` (its code, name, level, shape as GeoJSON, a point inside it), or 404."""
    grid_by_code(session, code)
    condition, params = scope.codes(":code")
    row = session.execute(text(f"""
        SELECT g.id, g.code, g.name, g.level, g.parent_code, ST_AsGeoJSON(g.geom, 7) AS shape,
               ST_XMin(g.geom) AS w, ST_YMin(g.geom) AS s, ST_XMax(g.geom) AS e, ST_YMax(g.geom) AS n,
               ST_X(ST_PointOnSurface(g.geom)) AS inside_lon, ST_Y(ST_PointOnSurface(g.geom)) AS inside_lat
        FROM grids g WHERE g.code = :code AND {condition}"""), {"code": code, **params}).mappings().first()
    if row is None:
        raise no_such_grid(code)
    return {**row, "shape": json.loads(row["shape"])}


def grid_buildings(session: Session, code: str, scope: Scope) -> list[dict]:
    """The current buildings a grid holds (its children included), with households and people."""
    membership, params = membership_filter(session, code, "b")
    condition, scoped = scope.rows("b")
    return [dict(r) for r in session.execute(text(f"""
        SELECT b.id, b.name, b.address, b.floors, b.entrances, b.flats_per_floor, b.use,
               coalesce(l.households, 0) AS households, coalesce(l.people, 0) AS people,
               ST_X(b.geom) AS lon, ST_Y(b.geom) AS lat
        FROM buildings b LEFT JOIN building_loads l ON l.building_id = b.id
        WHERE {membership} AND {condition} ORDER BY b.name, b.id"""), {**params, **scoped}).mappings()]


def building_view(session: Session, building_id: int, scope: Scope) -> dict:
    """A building as the ledger reads it (with its version) and its household diagram."""
    record = records.read(session, BUILDINGS, building_id, scope)
    grid = session.execute(text("SELECT g.code, g.name FROM all_buildings b JOIN grids g ON g.id = b.grid_l2_id "
                                "WHERE b.id = :id"), {"id": building_id}).mappings().first()
    diagram = boards.diagram(session, building_id, scope) if record["ended_on"] is None else None
    return {"record": record, "grid": dict(grid) if grid else None, "diagram": diagram}


def household_view(session: Session, household_id: int, scope: Scope) -> dict:
    """A household (ended ones too), its residents as the ledger shows them (ID numbers and
    phones masked, key-group memberships with their versions), current ones first, and its
    latest visits, and the other households of its building (where a resident may move)."""
    household = records.read(session, HOUSEHOLDS, household_id, scope)
    residents = [dict(r) for r in session.execute(text(f"""
        SELECT {RESIDENTS.public}, {BOOKKEEPING} FROM {RESIDENTS.table} r WHERE r.household_id = :h
        ORDER BY r.ended_on IS NOT NULL, r.ended_on DESC, r.id"""), {"h": household_id}).mappings()]
    visits = [dict(r) for r in session.execute(text("""
        SELECT v.kind, v.visited_at, v.note, s.name AS staff FROM visits v JOIN staff s ON s.id = v.staff_id
        WHERE v.household_id = :h ORDER BY v.visited_at DESC, v.id DESC LIMIT :n"""),
        {"h": household_id, "n": RECENT_VISITS}).mappings()]
    building = session.execute(text("SELECT b.name, g.code AS grid FROM all_buildings b "
                                    "LEFT JOIN grids g ON g.id = b.grid_l2_id WHERE b.id = :b"),
                               {"b": household["building_id"]}).mappings().one()
    neighbours = [dict(r) for r in session.execute(text("""
        SELECT h.id, h.entrance, h.floor, h.room FROM households h WHERE h.building_id = :b AND h.id <> :h
        ORDER BY h.entrance, h.floor, h.room"""), {"b": household["building_id"], "h": household_id}).mappings()]
    return {"household": household, "residents": residents, "visits": visits, "building": dict(building),
            "neighbours": neighbours}


def visit_team(session: Session, household_id: int, scope: Scope) -> list[dict]:
    """Who may be named as the visitor of a household: the active staff of its building's grid."""
    records.read(session, HOUSEHOLDS, household_id, scope)
    return [dict(r) for r in session.execute(text("""
        SELECT DISTINCT s.id, s.name, a.role FROM all_households h JOIN all_buildings b ON b.id = h.building_id
        JOIN grid_assignments a ON a.grid_id = b.grid_l2_id JOIN staff s ON s.id = a.staff_id
        WHERE h.id = :h AND s.active ORDER BY s.name, s.id"""), {"h": household_id}).mappings()]


def move_targets(session: Session, scope: Scope) -> list[dict]:
    """The current buildings in scope a household may move to, by name."""
    condition, params = scope.rows("b")
    return [dict(r) for r in session.execute(text(f"""
        SELECT b.id, b.name, b.address, b.entrances, b.floors FROM buildings b WHERE {condition}
        ORDER BY b.name, b.id LIMIT {MOVE_TARGETS}"""), params).mappings()]


def key_groups(session: Session) -> list[dict]:
    return [dict(r) for r in session.execute(text(
        "SELECT code, name_zh, name_en FROM key_groups ORDER BY sort_order")).mappings()]


def week_changes(session: Session, code: str, week: str | None, now: datetime, scope: Scope) -> dict:
    """A grid's ledger changes of an ISO week (default: the week holding ``now``, as
    ``GET /ledger/changes`` answers), each resident's change with the household it is in."""
    label, start, end = week_bounds(week, now + timedelta(days=7) if week is None else now)
    changes = summary.changes(session, code, start, end, scope)
    people = [c["record_id"] for c in changes if c["kind"] == "residents"]
    homes = dict(session.execute(text("SELECT id, household_id FROM all_residents WHERE id = ANY(:ids)"),
                                 {"ids": people}).all()) if people else {}
    for change in changes:
        change["household_id"] = homes.get(change["record_id"])
    previous = (start - timedelta(days=7)).isocalendar()
    following = (start + timedelta(days=7)).isocalendar()
    return {"week": label, "from": start, "to": end, "changes": changes,
            "previous": f"{previous[0]}-W{previous[1]:02d}", "next": f"{following[0]}-W{following[1]:02d}"}
