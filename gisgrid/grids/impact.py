"""What a boundary change does, measured in the database before and after it is written.

The dry run and the real call run the very same change inside a transaction: the dry run rolls
it back, the real call commits it, so the preview cannot disagree with what is saved. This
module takes the two snapshots (loads of the grids involved, area defects of the families
touched, the grid each open case now falls in) and the membership moves the refresh reports,
and says what changed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.settings import get_settings
from gisgrid.core.sql import identifier
from gisgrid.grids import shapes
from gisgrid.grids.defects import AREA_DEFECTS_SQL, AREA_LABELS_ZH, SLIVERS
from gisgrid.grids.edit_report import CaseMove, DefectPiece, Impact, Load, LoadChange, MovedPoint
from gisgrid.grids.membership import POINT_TABLES

OPEN_STATES = ("reported", "registered", "dispatched", "in_progress", "handled", "verified")

LOADS = """
SELECT g.id, g.code, g.name, g.level, coalesce(load.households, 0) AS households,
       coalesce(load.people, 0) AS people
FROM grids g LEFT JOIN grid_loads load ON load.grid_id = g.id
WHERE g.retired_at IS NULL
  AND (g.id = ANY(:ids) OR ST_Intersects(g.geom, ST_GeomFromEWKT(CAST(:area AS text))))
"""

# The grid each open case in the area falls in now (same border rule as stored membership).
CASE_GRIDS = """
SELECT c.id, c.case_no, c.title, c.grid_l1_id, c.grid_l2_id, c.grid_l3_id,
       ARRAY(SELECT DISTINCT ON (g.level) g.id FROM grids g
             WHERE g.retired_at IS NULL AND ST_Intersects(g.geom, c.geom)
             ORDER BY g.level, g.code) AS now_in
FROM cases c
WHERE c.status::text = ANY(:open) AND ST_Intersects(c.geom, ST_GeomFromEWKT(:area))
ORDER BY c.id
"""


@dataclass
class Snapshot:
    loads: dict[int, dict]
    defects: dict[tuple[str, int], shapely.Geometry]
    cases: dict[int, dict]


def snapshot(session: Session, *, grid_ids: set[int], families: set[str], area_ewkt: str | None,
             subdistrict: str) -> Snapshot:
    """Loads of the grids named and of every grid meeting the changed area (the only grids whose
    points can move), area defects of the families named, and the open cases in the area."""
    loads = {r.id: dict(r._mapping)
             for r in session.execute(text(LOADS), {"ids": sorted(grid_ids), "area": area_ewkt})}
    defects: dict[tuple[str, int], list] = defaultdict(list)
    if families:
        params = {"sd": subdistrict, "community": None, "level": None, "families": sorted(families)}
        for row in session.execute(text(AREA_DEFECTS_SQL), params):
            defects[(row.type, row.level)].append(shapely.from_wkb(row.wkb))
    cases = {}
    if area_ewkt:
        for row in session.execute(text(CASE_GRIDS), {"open": list(OPEN_STATES), "area": area_ewkt}):
            cases[row.id] = dict(row._mapping)
    return Snapshot(loads, {k: shapes.union(*v) for k, v in defects.items()}, cases)


def _codes(session: Session, ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(text("SELECT id, code FROM grids WHERE id = ANY(:ids)"),
                                {"ids": sorted(ids)}).all())


def _band(level: int, households: int, people: int) -> Load:
    bands = get_settings().load_bands[level]
    return {"households": households, "people": people,
            "status": bands.households.classify(households),
            "people_status": bands.people.classify(people)}


def _feature(geom) -> dict:
    return json.loads(shapely.to_geojson(shapes.on_grid(geom)))


def compare(session: Session, before: Snapshot, after: Snapshot, moved: dict) -> Impact:
    """The impact report: points that change grid, loads before/after of every grid whose load
    or code changes (or that is created or retired), defects made or mended."""
    grid_ids = {i for rows in moved.values() for old, new in rows.values() for i in (*old, *new)}
    grid_ids |= {c["grid_l2_id"] for c in after.cases.values()}
    grid_ids |= {i for c in (*before.cases.values(), *after.cases.values()) for i in c["now_in"]}
    codes = _codes(session, grid_ids | set(before.loads) | set(after.loads))
    report_moves = {table: _moved_points(session, table, rows, codes) for table, rows in moved.items()}
    created, removed = _defects(before, after)
    return {
        "moves": report_moves,
        "households_moved": sum(item.get("households", 0) for items in report_moves.values() for item in items),
        "people_moved": sum(item.get("people", 0) for items in report_moves.values() for item in items),
        "open_cases": _cases_moved(before, after, codes),
        "loads": _loads(before, after, codes),
        "defects": {"created": created, "removed": removed},
    }


def _moved_points(session: Session, table: str, rows: dict, codes: dict[int, str]) -> list[MovedPoint]:
    """The points of ``table`` that change grid, each with the levels it moves at (a building
    also with the households and people it takes along)."""
    if not rows:
        return []
    if table == "buildings":
        sql = """SELECT b.id, b.name, round(ST_X(b.geom)::numeric, 7)::float AS lon,
                        round(ST_Y(b.geom)::numeric, 7)::float AS lat,
                        coalesce(l.households, 0) AS households, coalesce(l.people, 0) AS people
                 FROM buildings b LEFT JOIN building_loads l ON l.building_id = b.id
                 WHERE b.id = ANY(:ids) ORDER BY b.id"""
    else:
        sql = (f"SELECT id, name, round(ST_X(geom)::numeric, 7)::float AS lon, "
               f"round(ST_Y(geom)::numeric, 7)::float AS lat FROM {identifier(table, POINT_TABLES)} "
               "WHERE id = ANY(:ids) ORDER BY id")
    items = []
    for row in session.execute(text(sql), {"ids": sorted(rows)}):
        old, new = rows[row.id]
        item = dict(row._mapping)
        item["levels"] = {str(level): {"from": codes.get(o), "to": codes.get(n)}
                          for level, o, n in zip((1, 2, 3), old, new, strict=True) if o != n}
        items.append(item)
    return items


def _cases_moved(before: Snapshot, after: Snapshot, codes: dict[int, str]) -> list[CaseMove]:
    """Open cases that now fall in another grid than before the change."""
    cases = []
    for case_id, now in after.cases.items():
        was = before.cases.get(case_id)
        old = tuple(was["now_in"]) if was else ()
        if old != tuple(now["now_in"]):
            cases.append({"id": case_id, "case_no": now["case_no"], "title": now["title"],
                          "reported_in": codes.get(now["grid_l2_id"]),
                          "grids_before": [codes.get(i) for i in old],
                          "grids_after": [codes.get(i) for i in now["now_in"]]})
    return cases


def _loads(before: Snapshot, after: Snapshot, codes: dict[int, str]) -> list[LoadChange]:
    """Loads against the band, before and after, of each grid the change touched (a neighbour
    whose load and code stay is left out)."""
    loads = []
    for grid_id in sorted(set(before.loads) | set(after.loads), key=lambda i: codes.get(i, "")):
        b, a = before.loads.get(grid_id), after.loads.get(grid_id)
        if b is not None and a is not None and (b["households"], b["people"], b["code"]) == \
                (a["households"], a["people"], a["code"]):
            continue  # a neighbour the change did not touch
        ref = a or b
        bands = get_settings().load_bands[ref["level"]]
        loads.append({
            "code": ref["code"], "name": ref["name"], "level": ref["level"],
            "band": [bands.households.low, bands.households.high],
            "people_band": [bands.people.low, bands.people.high],
            "before": _band(ref["level"], b["households"], b["people"]) if b else None,
            "after": _band(ref["level"], a["households"], a["people"]) if a else None,
        })
    return loads


def _defects(before: Snapshot, after: Snapshot) -> tuple[list[DefectPiece], list[DefectPiece]]:
    """Defect pieces the change creates and removes (below the sliver tolerance: as slivers)."""
    tolerance = get_settings().sliver_tolerance_m2
    created, removed = [], []
    for key in sorted(set(before.defects) | set(after.defects)):
        old = before.defects.get(key, shapely.MultiPolygon())
        new = after.defects.get(key, shapely.MultiPolygon())
        for out, geom in ((created, shapes.difference(new, old)), (removed, shapes.difference(old, new))):
            for piece in shapely.get_parts(geom):
                area = shapes.area_m2(piece)
                if area <= 0.01:
                    continue
                kind = key[0] if area >= tolerance else SLIVERS[key[0]]
                out.append({"type": kind, "label": AREA_LABELS_ZH[kind], "level": key[1],
                            "area_m2": round(area, 2), "geometry": _feature(piece)})
    return created, removed
