"""A building over the band's ceiling split by 单元, the way an office records it in the ledger.

With ``--oversize by-entrance`` a building holding more households than the ceiling is not left
as a grid of its own (一楼一格): its 单元 (entrances) are grouped into runs of consecutive
entrances, each run a part of the building ("12号楼" → "12号楼 1–3单元", "12号楼 4–6单元"), and
the parts are ordinary units of the division. The grouping (:func:`group_entrances`) puts every
part in the band where the entrances allow it, then uses the fewest parts, then the most even;
an entrance alone over the ceiling is a part of its own and is reported as such. A part's
footprint is a strip of the building's footprint cut across its long axis (the oriented minimum
rotated rectangle), entrance 1 at the west (or south) end, each strip as wide as its share of
the entrances; its point is a point on that strip, so the grid drawn around it holds it.

A proposal only describes the parts (which entrances, households, point, footprint). Adopting it
(:func:`split`) writes them through the ledger's service functions: each part created as a
building, each household moved to its part (same 单元, floor and room, so its address reads as
before), the original building ended with the reason ``split``. Every write has its version,
history and audit row, and the caller runs it in the same transaction as the grid import.
A part's 单元数 is the number of its last entrance, so its households keep their numbers.
"""

from __future__ import annotations

from datetime import date

import shapely
from shapely import wkb
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import Conflict
from gisgrid.ledger import records
from gisgrid.ledger import service as ledger
from gisgrid.ledger.kinds import KINDS
from gisgrid.ledger.records import Editor

OPTIONS = ("own-grid", "by-entrance")
END_REASON = "split"
BUILDINGS, HOUSEHOLDS = KINDS["buildings"], KINDS["households"]


def group_entrances(loads: list[int], band) -> list[tuple[int, int]]:
    """Runs ``(first, last)`` of consecutive entrances (1-based) covering ``loads`` (households per
    entrance, entrance 1 first): the fewest runs out of band, then the fewest runs, then the least
    squared distance from the band's middle. A run over the ceiling holds one occupied entrance."""
    best: list[tuple | None] = [None] * (len(loads) + 1)
    best[0] = ((0, 0, 0.0), [])
    for last in range(1, len(loads) + 1):
        total, occupied = 0, 0
        for first in range(last, 0, -1):
            total += loads[first - 1]
            occupied += loads[first - 1] > 0
            if total > band.high and occupied > 1:
                break
            if best[first - 1] is None:
                continue
            (out, parts, spread), runs = best[first - 1]
            cost = (out + (not band.holds(total)), parts + 1, spread + (total - band.middle) ** 2)
            if best[last] is None or cost < best[last][0]:
                best[last] = (cost, [*runs, (first, last)])
    return best[-1][1]


def strips(footprint_m: BaseGeometry, entrances: int, runs: list[tuple[int, int]]) -> list[BaseGeometry]:
    """The footprint cut across its long axis into one strip per run, as wide as its entrances."""
    corners = shapely.get_coordinates(shapely.oriented_envelope(footprint_m))[:4]
    edges = [corners[1] - corners[0], corners[2] - corners[1]]
    axis = max(edges, key=lambda e: float(e @ e))
    axis = axis / float(axis @ axis) ** 0.5
    if axis[0] < -1e-9 or (abs(axis[0]) <= 1e-9 and axis[1] < 0):
        axis = -axis  # entrance 1 at the west (or south) end
    across = [-axis[1], axis[0]]
    along = corners @ axis
    side = corners @ across
    start, length = float(along.min()), float(along.max() - along.min())
    low, high = float(side.min()) - 1, float(side.max()) + 1
    out = []
    for first, last in runs:
        t0, t1 = start + length * (first - 1) / entrances, start + length * last / entrances
        if first == 1:
            t0 -= 1
        if last == entrances:
            t1 += 1
        cut = shapely.Polygon([axis * t + [across[0] * s, across[1] * s] for t, s in
                               ((t0, low), (t1, low), (t1, high), (t0, high))])
        piece = shapely.intersection(footprint_m, cut)
        parts = shapely.get_parts(piece)
        out.append(max(parts, key=lambda p: p.area))  # a concave footprint may cut into pieces: the largest
    return out


def units(session: Session, buildings: list[dict], band, frame) -> list[dict]:
    """``buildings`` with each one over the ceiling replaced by its parts (units of the division
    with a ``part``), or kept whole and marked ``unsplit`` with why."""
    over = [b["id"] for b in buildings if b["households"] > band.high]
    if not over:
        return buildings
    rows = {r["id"]: r for r in session.execute(text("""
        SELECT b.id, b.name, b.address, b.compound, b.floors, b.entrances, b.flats_per_floor, b.use, b.version,
               ST_AsBinary(b.footprint) AS footprint FROM buildings b WHERE b.id = ANY(:ids)"""),
        {"ids": over}).mappings()}
    loads: dict[int, dict[int, int]] = {}
    for building, entrance, households in session.execute(text("""
            SELECT building_id, entrance, count(*) FILTER (WHERE occupancy <> 'vacant') FROM households
            WHERE building_id = ANY(:ids) GROUP BY 1, 2"""), {"ids": over}):
        loads.setdefault(building, {})[entrance] = households
    out = []
    for b in buildings:
        out += _parts(b, rows[b["id"]], loads.get(b["id"], {}), band, frame) if b["id"] in rows else [b]
    return out


def _parts(building: dict, row: dict, loads: dict[int, int], band, frame) -> list[dict]:
    count = max([row["entrances"], *loads])
    per_entrance = [loads.get(e, 0) for e in range(1, count + 1)]
    runs = group_entrances(per_entrance, band)
    if len(runs) == 1:
        occupied = [e for e, n in enumerate(per_entrance, start=1) if n]
        return [{**building, "unsplit": {"why": "entrance_over_ceiling", "entrances": occupied}}]
    if row["footprint"] is None:
        return [{**building, "unsplit": {"why": "no_footprint", "entrances": list(range(1, count + 1))}}]
    pieces = strips(frame.to_m(wkb.loads(row["footprint"])), count, runs)
    out = []
    for (first, last), piece_m in zip(runs, pieces, strict=True):
        piece = frame.to_deg(piece_m)
        point = shapely.point_on_surface(piece)
        households = sum(per_entrance[first - 1:last])
        label = f"{first}单元" if first == last else f"{first}–{last}单元"
        occupied = [e for e in range(first, last + 1) if per_entrance[e - 1]]
        out.append({**building, "lon": point.x, "lat": point.y, "households": households, "part": {
            "building": building["id"], "version": row["version"], "name": f"{row['name']} {label}",
            "address": f"{row['address']} {label}", "entrances": list(range(first, last + 1)),
            "households": households, "over_ceiling": households > band.high and len(occupied) == 1,
            "lon": point.x, "lat": point.y, "footprint": mapping(piece),
            "fields": {c: row[c] for c in ("compound", "floors", "flats_per_floor", "use")}}})
    return out


def properties(buildings: list[dict]) -> dict:
    """A proposed grid's whole buildings and the parts of split ones it holds."""
    return {"building_ids": sorted(b["id"] for b in buildings if "part" not in b),
            "parts": [b["part"] for b in buildings if "part" in b]}


def problems(found: list[dict], drawn: list, labels: list[str], band) -> list[dict]:
    """The partition's problems with each building over the ceiling said as it was resolved: split
    (its parts, their entrances and grids) or kept whole (why), and each entrance alone over it."""
    split: dict[int, list[tuple[dict, str]]] = {}
    unsplit: dict[int, dict] = {}
    for grid, label in zip(drawn, labels, strict=True):
        for b in grid.buildings:
            if "part" in b:
                split.setdefault(b["id"], []).append((b["part"], label))
            elif "unsplit" in b:
                unsplit[b["id"]] = b["unsplit"]
    out = []
    for p in found:
        building = p["buildings"][0] if p["buildings"] else None
        if p["kind"] == "building_over_ceiling" and building in split:
            continue  # an entrance alone over the ceiling: said below
        if p["kind"] == "building_over_ceiling" and building in unsplit:
            p = {**p, "resolution": "own_grid", "why": unsplit[building]["why"]}
            if p["why"] == "entrance_over_ceiling":
                out.append(p)
                p = {"kind": "entrance_over_ceiling", "buildings": [building], "households": p["households"],
                     "entrances": unsplit[building]["entrances"]}
        out.append(p)
    for building, parts in sorted(split.items()):
        parts.sort(key=lambda item: item[0]["entrances"][0])
        out.append({"kind": "building_over_ceiling", "buildings": [building], "resolution": "by_entrance",
                    "households": sum(part["households"] for part, _ in parts),
                    "parts": [{"name": part["name"], "entrances": part["entrances"], "households": part["households"],
                               "in_band": band.holds(part["households"]), "grid": label} for part, label in parts]})
        out += [{"kind": "entrance_over_ceiling", "buildings": [building], "households": part["households"],
                 "entrances": part["entrances"], "part": part["name"]} for part, _ in parts if part["over_ceiling"]]
    return out


def split(session: Session, editor: Editor, proposal: dict, *, reason: str, today: date) -> list[dict]:
    """Write the proposal's parts in the ledger: per split building its parts created, its
    households moved to them, the building ended (``split``). 409 when the building changed since
    the proposal (its version) or holds a household in an entrance no part names."""
    by_building: dict[int, list[dict]] = {}
    for feature in proposal["features"]:
        for part in feature["properties"].get("parts", []):
            by_building.setdefault(part["building"], []).append(part)
    done = []
    for building, parts in sorted(by_building.items()):
        original = records.read(session, BUILDINGS, building, editor.scope, lock=True)
        records.check_version(session, BUILDINGS, original, parts[0]["version"])
        created = {}
        for part in sorted(parts, key=lambda p: p["entrances"][0]):
            fields = {**part["fields"], "name": part["name"], "address": part["address"],
                      "entrances": part["entrances"][-1], "lon": part["lon"], "lat": part["lat"]}
            record = ledger.create(session, BUILDINGS, editor, fields, reason=reason, today=today)
            records.write(session, BUILDINGS, editor, record_id=record["id"], expected=record["version"],
                          reason=reason, operation="split", values={"footprint": (
                              "ST_SetSRID(ST_GeomFromGeoJSON(:footprint), 4326)",
                              {"footprint": shapely.to_geojson(shape(part["footprint"]))})})
            created.update(dict.fromkeys(part["entrances"], record))
        households = session.execute(text("""
            SELECT id, version, entrance, floor, room FROM households WHERE building_id = :b ORDER BY id"""),
            {"b": building}).mappings().all()
        strays = sorted({h["entrance"] for h in households} - set(created))
        if strays:
            raise Conflict(f"楼栋 {building} 的 {strays} 单元不在任何拆分部分中 / building {building} has households in "
                           f"entrances {strays} that no part holds: divide again", where="oversize")
        for h in households:
            ledger.move_household(session, editor, h["id"], expected=h["version"], building_id=created[h["entrance"]]["id"],
                                  entrance=h["entrance"], floor=h["floor"], room=h["room"], reason=reason)
        current = records.read(session, BUILDINGS, building, editor.scope)
        ledger.end(session, BUILDINGS, editor, building, expected=current["version"], on=today, end_reason=END_REASON,
                   reason=reason)
        moved = {}
        for h in households:
            moved[created[h["entrance"]]["id"]] = moved.get(created[h["entrance"]]["id"], 0) + 1
        done.append({"building": building, "parts": [
            {"id": record["id"], "name": record["name"], "entrances": part["entrances"],
             "households_moved": moved.get(record["id"], 0)}
            for part in sorted(parts, key=lambda p: p["entrances"][0]) for record in [created[part["entrances"][0]]]]})
    return done
