"""Propose a division of a sub-district (or one community) and adopt it.

``redesign`` draws every grid of the level anew inside each parent (an L1 zone for grids, an L2
grid for micro-grids): the parent's buildings, weighted by their occupied households
(``building_loads``), become cells of ground (:mod:`.adjacency`) that the partition
(:mod:`.partition`) groups into contiguous grids in the band; a grid's shape is the union of its
cells and of the empty blocks it borders most, so the parent is covered with no gap or overlap
and borders follow streets. ``rebalance`` keeps every grid in the band exactly as it is and only
splits grids over the band (on their own ground) and merges grids under it with a neighbour the
union still fits, so the only households that change grid are those of grids out of band.

A proposal is a layer: GeoJSON features with the ``level``, each grid's ``code`` where it carries
on an existing grid (the one holding most of its households) and none where it is new (the
import numbers those by the scheme), names, households and figures, and the whole family of
every parent it touches, as the grid import needs it. Adopting it is that import, with the
layer's ETag, so it is versioned, audited and undoable like any grid import.

Geometry is worked in a local equirectangular frame (an affine map of lon/lat, so straight edges
stay straight and shapes come back to the same coordinates); lengths and areas are in metres.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import shapely
from shapely import wkb
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.scope import Scope
from gisgrid.core.settings import get_settings
from gisgrid.division import adjacency, entrances, metrics, partition
from gisgrid.division.streets import clipped, read_streets
from gisgrid.grids.edit_report import ImportReport
from gisgrid.grids.editing import EditRequest
from gisgrid.grids.layer_import import import_layer
from gisgrid.grids.shapes import as_multi, on_grid
from gisgrid.ledger.records import Editor

MODES = ("redesign", "rebalance")
EARTH_M = 6_371_008.8


@dataclass(frozen=True)
class DivideRequest:
    subdistrict: str
    community: str | None = None
    level: int = 2
    band: partition.Band | None = None
    streets: Path | None = None
    streets_crs: str | None = None
    mode: str = "redesign"
    seed: int = 18
    oversize: str = "own-grid"


@dataclass(frozen=True)
class Frame:
    """A local equirectangular frame around (lon0, lat0): metres east and north."""

    lon0: float
    lat0: float

    def to_m(self, geom: BaseGeometry) -> BaseGeometry:
        kx, ky = EARTH_M * math.radians(1) * math.cos(math.radians(self.lat0)), EARTH_M * math.radians(1)
        return shapely.transform(geom, lambda xy: np.column_stack(((xy[:, 0] - self.lon0) * kx, (xy[:, 1] - self.lat0) * ky)))

    def to_deg(self, geom: BaseGeometry) -> BaseGeometry:
        kx, ky = EARTH_M * math.radians(1) * math.cos(math.radians(self.lat0)), EARTH_M * math.radians(1)
        return shapely.transform(geom, lambda xy: np.column_stack((xy[:, 0] / kx + self.lon0, xy[:, 1] / ky + self.lat0)))


def band_for(level: int, band: partition.Band | None) -> partition.Band:
    if band is not None:
        return band
    households = get_settings().load_bands[level].households
    return partition.Band(households.low, households.high)


def parse_band(value: str) -> partition.Band:
    """'200-300' → Band(200, 300), or a 422 saying how to write it."""
    try:
        low, high = (int(part) for part in value.replace("–", "-").split("-"))
    except ValueError:
        raise InvalidInput(f"band 应写作 下限-上限，如 200-300，收到 {value!r} / band is LOW-HIGH, e.g. 200-300, "
                           f"got {value!r}", where="band") from None
    if not 1 <= low <= high:
        raise InvalidInput(f"band {value}：下限应不小于 1 且不大于上限 / band {value}: 1 ≤ low ≤ high", where="band")
    return partition.Band(low, high)


def _check(request: DivideRequest) -> None:
    if request.level not in (2, 3):
        raise InvalidInput(f"level 应为 2 或 3，收到 {request.level} / level must be 2 (grids) or 3 (micro-grids), "
                           f"got {request.level}", where="level")
    if request.mode not in MODES:
        raise InvalidInput(f"mode 应为 redesign 或 rebalance，收到 {request.mode!r} / mode is redesign or rebalance, "
                           f"got {request.mode!r}", where="mode")
    if request.oversize not in entrances.OPTIONS:
        raise InvalidInput(f"oversize 应为 own-grid（一楼一格）或 by-entrance（按单元拆分），收到 {request.oversize!r} / "
                           f"oversize is own-grid or by-entrance, got {request.oversize!r}", where="oversize")


def _parents(session: Session, request: DivideRequest, scope: Scope) -> list[dict]:
    """The grids whose children are divided: L1 zones for level 2, L2 grids for level 3."""
    condition, params = scope.codes("g.code")
    rows = session.execute(text(f"""
        SELECT g.id, g.code, g.name, ST_AsBinary(g.geom) AS geom FROM grids g
        WHERE g.subdistrict_code = :sd AND g.level = :parent_level AND g.retired_at IS NULL
          AND (CAST(:community AS text) IS NULL OR g.code = :community OR g.parent_code = :community)
          AND {condition}
        ORDER BY g.code"""), {"sd": request.subdistrict, "parent_level": request.level - 1,
                              "community": request.community, **params}).mappings().all()
    if not rows:
        where = f"{request.subdistrict}" + (f" / {request.community}" if request.community else "")
        raise NotFound(f"{where} 下没有可划分的上级网格 / no parent grids to divide in {where} (in your area)",
                       where="community" if request.community else "subdistrict")
    return [{**r, "geom": wkb.loads(r["geom"])} for r in rows]


def _buildings(session: Session, parent: dict, level: int) -> list[dict]:
    return [dict(r) for r in session.execute(text(f"""
        SELECT b.id, ST_X(b.geom) AS lon, ST_Y(b.geom) AS lat, coalesce(l.households, 0) AS households,
               g.code AS grid_code
        FROM buildings b LEFT JOIN building_loads l ON l.building_id = b.id
        LEFT JOIN grids g ON g.id = b.grid_l{level}_id
        WHERE b.grid_l{level - 1}_id = :parent ORDER BY b.id"""), {"parent": parent["id"]}).mappings()]


def _units(session: Session, parent: dict, request: DivideRequest, band: partition.Band, frame: Frame) -> list[dict]:
    """The parent's buildings as units of the division; with ``oversize=by-entrance`` each one
    over the ceiling as its parts, runs of its 单元 (:mod:`.entrances`)."""
    buildings = _buildings(session, parent, request.level)
    if request.oversize != "by-entrance":
        return buildings
    return entrances.units(session, buildings, band, frame)


def _children(session: Session, parent: dict) -> list[dict]:
    rows = session.execute(text("""
        SELECT g.code, g.name, ST_AsBinary(g.geom) AS geom FROM grids g
        WHERE g.parent_code = :p AND g.retired_at IS NULL ORDER BY g.code"""), {"p": parent["code"]}).mappings()
    return [{**r, "geom": wkb.loads(r["geom"])} for r in rows]


@dataclass
class Drawn:
    """A proposed grid: its buildings, shape (metres) and the code it carries on, if any."""

    buildings: list[dict]
    shape_m: BaseGeometry
    code: str | None = None
    name: str | None = None
    kept: bool = False


def _streets_for(request: DivideRequest):
    return read_streets(request.streets, request.streets_crs) if request.streets else None


def _local_streets(lines, frame: Frame, area: BaseGeometry) -> adjacency.Streets | None:
    if lines is None:
        return None
    near, hard = clipped(lines[0], lines[1], area)
    return adjacency.Streets([frame.to_m(line) for line in near], hard) if near else None


def _draw(buildings: list[dict], shape_m: BaseGeometry, frame: Frame, streets: adjacency.Streets | None,
          band: partition.Band, seed: int) -> tuple[list[Drawn], list[dict], BaseGeometry | None]:
    """Buildings on ``shape_m`` grouped into grids; the shapes tile ``shape_m``."""
    if not buildings:
        return [], [{"kind": "no_buildings", "buildings": [], "households": 0}], None
    points = np.array([[p.x, p.y] for p in (frame.to_m(shapely.Point(b["lon"], b["lat"])) for b in buildings)])
    land = adjacency.ground(shape_m, points, streets)
    households = {i: int(b["households"]) for i, b in enumerate(buildings)}
    plan = partition.divide(land.graph, households, dict(enumerate(land.blocks)), band, seed=seed)
    shapes = [shapely.union_all([land.cells[i] for i in part]) for part in plan.parts]
    _give_fillers(shapes, land.fillers)
    drawn = [Drawn([buildings[i] for i in part], shape) for part, shape in zip(plan.parts, shapes, strict=True)]
    problems = [{**p, "buildings": [buildings[i]["id"] for i in p["buildings"]]} for p in plan.problems]
    return drawn, problems, land.street_zone


def _give_fillers(shapes: list[BaseGeometry], fillers: list[BaseGeometry]) -> None:
    """Each empty block to the grid it shares the longest border with (the nearest when none)."""
    for filler in fillers:
        shared = [shapely.intersection(filler.boundary, s.boundary).length for s in shapes]
        best = int(np.argmax(shared)) if max(shared) > 0 else int(np.argmin([filler.distance(s) for s in shapes]))
        shapes[best] = shapely.union(shapes[best], filler)


def _redesign(session, parent, request, band, lines, frame) -> tuple[list[Drawn], list[dict], BaseGeometry | None]:
    buildings = _units(session, parent, request, band, frame)
    shape_m = frame.to_m(parent["geom"])
    return _draw(buildings, shape_m, frame, _local_streets(lines, frame, parent["geom"]), band, request.seed)


def _rebalance(session, parent, request, band, lines, frame) -> tuple[list[Drawn], list[dict], BaseGeometry | None]:
    """Grids in band kept as they are; over the band split on their own ground; under it merged
    with the neighbour the union fits (an under neighbour first), else reported."""
    buildings = _units(session, parent, request, band, frame)
    children = _children(session, parent)
    by_grid: dict[str, list[dict]] = {c["code"]: [] for c in children}
    for b in buildings:
        if b["grid_code"] in by_grid:
            by_grid[b["grid_code"]].append(b)
    drawn: list[Drawn] = []
    problems: list[dict] = []
    zones = []
    load = {code: sum(b["households"] for b in members) for code, members in by_grid.items()}
    shapes_m = {c["code"]: frame.to_m(c["geom"]) for c in children}
    names = {c["code"]: c["name"] for c in children}
    merged: set[str] = set()
    for code in sorted(by_grid, key=lambda c: load[c]):
        if code in merged or load[code] >= band.low:
            continue
        neighbours = [other for other in by_grid if other != code and other not in merged
                      and shapely.intersection(shapes_m[code].boundary, shapes_m[other].boundary).length >= adjacency.TOUCH_M
                      and load[code] + load[other] <= band.high]
        if not neighbours:
            problems.append({"kind": "under_band_no_partner", "grid": code, "households": load[code],
                             "buildings": [b["id"] for b in by_grid[code]]})
            continue
        partner = min(neighbours, key=lambda o: (load[o] >= band.low, abs(load[code] + load[o] - band.middle)))
        merged |= {code, partner}
        keeper = partner if load[partner] >= load[code] else code
        drawn.append(Drawn(by_grid[code] + by_grid[partner], shapely.union(shapes_m[code], shapes_m[partner]),
                           code=keeper, name=names[keeper]))
    for code, members in sorted(by_grid.items()):
        if code in merged:
            continue
        if band.holds(load[code]) or load[code] < band.low:
            drawn.append(Drawn(members, shapes_m[code], code=code, name=names[code], kept=True))
            continue
        parts, found, zone = _draw(members, shapes_m[code], frame, _local_streets(lines, frame, frame.to_deg(shapes_m[code])),
                                   band, request.seed)
        problems += found
        zones.append(zone)
        drawn += parts
    zone = shapely.union_all([z for z in zones if z is not None]) if any(z is not None for z in zones) else None
    return drawn, problems, zone


def _carry_codes(drawn: list[Drawn], children: list[dict]) -> None:
    """A drawn grid carries on the existing grid holding most of its households (each code once)."""
    claims = []
    for index, grid in enumerate(drawn):
        if grid.code is not None:
            continue
        counts: dict[str, int] = {}
        for b in grid.buildings:
            if b["grid_code"]:
                counts[b["grid_code"]] = counts.get(b["grid_code"], 0) + max(1, b["households"])
        claims += [(count, index, code) for code, count in counts.items()]
    taken = {g.code for g in drawn if g.code is not None}
    names = {c["code"]: c["name"] for c in children}
    for _, index, code in sorted(claims, reverse=True):
        if drawn[index].code is None and code not in taken:
            drawn[index].code, drawn[index].name = code, names.get(code)
            taken.add(code)


def divide(session: Session, request: DivideRequest, scope: Scope) -> dict:
    """The proposal: a GeoJSON FeatureCollection with ``summary``, ``problems`` and ``moved``."""
    _check(request)
    band = band_for(request.level, request.band)
    lines = _streets_for(request)
    features, problems, moved = [], [], 0
    households, compactness, on_streets = [], [], []
    for parent in _parents(session, request, scope):
        centre = parent["geom"].centroid
        frame = Frame(centre.x, centre.y)
        work = _redesign if request.mode == "redesign" else _rebalance
        drawn, found, zone = work(session, parent, request, band, lines, frame)
        _carry_codes(drawn, _children(session, parent))
        found = _oversize_problems(found, drawn, parent, request, band)
        problems += [{**p, "parent": parent["code"]} for p in found]
        outline_m = frame.to_m(parent["geom"])
        for serial, grid in enumerate(drawn, start=1):
            count = sum(b["households"] for b in grid.buildings)
            compact = metrics.polsby_popper(grid.shape_m)
            streets_share = metrics.street_share(grid.shape_m, outline_m, zone)
            households.append(count)
            compactness.append(compact)
            on_streets.append(streets_share)
            moved += sum(b["households"] for b in grid.buildings if b["grid_code"] != grid.code)
            shape = as_multi(on_grid(frame.to_deg(grid.shape_m)))
            features.append({"type": "Feature", "geometry": mapping(shape), "properties": {
                "code": grid.code, "name": grid.name or f"{parent['name']}新网格{serial}", "level": request.level,
                "parent": parent["code"], "households": count, "buildings": len(grid.buildings),
                "in_band": band.holds(count), "kept": grid.kept, "polsby_popper": round(compact, 4),
                "street_share": None if streets_share is None else round(streets_share, 4),
                **entrances.properties(grid.buildings)}})
    return {"type": "FeatureCollection", "features": features, "problems": problems,
            "summary": {**metrics.summary(households, (band.low, band.high), compactness, on_streets),
                        "mode": request.mode, "level": request.level, "band": [band.low, band.high],
                        "households_moved": moved}}


def _oversize_problems(found: list[dict], drawn: list[Drawn], parent: dict, request: DivideRequest,
                       band: partition.Band) -> list[dict]:
    """Buildings over the ceiling reported as they were resolved: split by 单元 (which entrances
    went to which part and grid) or kept whole as a grid of their own (一楼一格)."""
    if request.oversize != "by-entrance":
        return found
    labels = [grid.code or grid.name or f"{parent['name']}新网格{serial}" for serial, grid in enumerate(drawn, start=1)]
    return entrances.problems(found, drawn, labels, band)


def adopt(session: Session, proposal: dict, *, actor: str, reason: str, expected_etag: str | None,
          dry_run: bool) -> ImportReport:
    """The proposal as one grid-layer import (the same check, impact report, history and audit)."""
    layer = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": f["geometry"],
         "properties": {k: v for k, v in f["properties"].items() if k in ("code", "name", "level") and v is not None}}
        for f in proposal["features"]]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "division.geojson"
        path.write_text(json.dumps(layer, ensure_ascii=False))
        request = EditRequest(actor=actor, reason=reason, mode="fit", dry_run=dry_run)
        return import_layer(session, request, path, level=proposal["summary"]["level"], assign_codes=True,
                            expected_etag=expected_etag, retire_children=True)



def divide_and_adopt(session: Session, request: DivideRequest, scope: Scope, *, actor: str, reason: str | None,
                     adopt_with: str | None, adopt_now: bool, today: date | None = None) -> dict:
    """The proposal with the impact its import would have (a dry run, in a savepoint) and the
    layer ETag; with ``adopt_now`` the import itself, needing the reason and, once grids exist,
    the ETag (``adopt_with``) the dry run gave, as every grid import does. Buildings the proposal
    splits by 单元 are split in the ledger first, in the same savepoint (on ``today``)."""
    proposal = divide(session, request, scope)
    if not proposal["features"]:
        raise InvalidInput("没有可划分的楼栋 / there are no buildings to divide", where="subdistrict")
    editor = Editor(actor, scope)
    trial = session.begin_nested()
    impact, _ = adopt_splitting(session, proposal, editor=editor, reason=reason or "自动划分预览 / division preview",
                                expected_etag=None, dry_run=True, today=today or date.today())
    trial.rollback()
    answer = {"proposal": proposal, "impact": impact, "etag": impact["etag"], "adopted": None, "split": None}
    if adopt_now:
        if not reason or not reason.strip():
            raise InvalidInput("采用划分方案须说明原因 / adopting a division needs a reason", where="reason")
        answer["adopted"], answer["split"] = adopt_splitting(session, proposal, editor=editor, reason=reason,
                                                             expected_etag=adopt_with, dry_run=False,
                                                             today=today or date.today())
    return answer


def adopt_splitting(session: Session, proposal: dict, *, editor: Editor, reason: str, expected_etag: str | None,
                    dry_run: bool, today: date) -> tuple[ImportReport, list[dict]]:
    """The buildings the proposal splits by 单元 split in the ledger, then the grid import, in one
    savepoint: a refusal of either (a stale ETag, a building changed since) leaves neither."""
    with session.begin_nested():
        split = entrances.split(session, editor, proposal, reason=reason, today=today)
        report = adopt(session, proposal, actor=editor.actor, reason=reason, expected_etag=expected_etag,
                       dry_run=dry_run)
    return report, split
