"""The boundary operations users ask for, each a short recipe on :class:`~gisgrid.grids.editing.Edit`.

Choices where a technician could expect more than one thing (documented in the README):

- **split** keeps the grid's code, name, team and history on its largest part (or the part
  marked ``keep``); the other parts are new grids numbered after the parent's last serial,
  north-west first. Children go under the part holding most of their area.
- **merge** keeps the grid named ``into`` (default: the smallest code); the others are retired
  and their children are re-coded under it. Grids must be siblings and adjacent.
- **retire** hands the area to neighbours: all of it to ``into``, or each separate part to the
  sibling sharing the longest border with it. Without a neighbour to take it, it is refused
  unless ``leave_uncovered`` is given, and then the blind spot is in the report.
- **transfer** moves the part of grid A inside a drawn polygon to grid B, a sibling touching it;
  A's children follow (their part goes to B's child with the longest shared border, a child
  wholly inside moves under B), so the levels below stay nested and gap-free.
- **restore** makes an old version the current shape again as a new version, checked against
  today's siblings like any reshape.
"""

from __future__ import annotations

import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.grids import shapes
from gisgrid.grids.edit_report import EditReport
from gisgrid.grids.editing import Edit, EditRequest, Row, Target
from gisgrid.grids.models import check_grid_code, grid_name, no_such_grid


def _name(value: str | None, where: str) -> str | None:
    """An optional name: ``None`` keeps the grid's own."""
    return None if value is None else grid_name(value, where)


def _not_taking_all(row: Row, rest: BaseGeometry, where: str, tolerance: float) -> None:
    if rest.is_empty or shapes.area_m2(rest) <= tolerance:
        raise InvalidInput(f"此操作会拿走网格 {row.code} 的全部面积，请用合并或撤销 / this would take all of grid "
                           f"{row.code}: merge or retire it instead", where=where)


def create(session: Session, request: EditRequest, *, geometry, crs: str | None = None,
           parent: str | None = None, subdistrict: str | None = None, name: str,
           serial: int | None = None) -> EditReport:
    """A new grid under ``parent`` (or a new L1 zone in ``subdistrict``)."""
    shape = shapes.parse_area(geometry, crs)
    name = _name(name, "name")
    if serial is not None and not 1 <= serial <= 999:
        raise InvalidInput(f"serial 应在 1–999 之间 / serial must be 1 to 999, got {serial}", where="serial")
    edit = Edit(session, request, "create")
    if parent is not None:
        check_grid_code(parent, (1, 2), where="parent")
        row = session.execute(text("SELECT subdistrict_code, level FROM grids WHERE code = :c AND retired_at IS NULL"),
                              {"c": parent}).first()
        if row is None:
            raise no_such_grid(parent, where="parent", active=True)
        subdistrict, level = row.subdistrict_code, row.level + 1
    elif subdistrict is not None:
        level = 1
    else:
        raise InvalidInput("需要 parent（上级网格编码）或 subdistrict（新建一级网格）/ give parent (a grid code) "
                           "or subdistrict (for a new L1 zone)", where="parent")
    edit.lock_parent(parent, subdistrict)
    parent_geom = edit.parent_shape(parent, subdistrict)
    neighbours = {c: r.geom for c, r in edit.siblings(level, parent, subdistrict, near=shape).items()}
    shape = edit.fit(shape, parent=parent_geom, neighbours=neighbours, label=name, where="geometry")
    edit.refuse_if_problems()
    edit.create(parent_code=parent, subdistrict=subdistrict, level=level, name=name, geom=shape, serial=serial)
    return edit.finish()


def reshape(session: Session, request: EditRequest, code: str, *, geometry, crs: str | None = None,
            name: str | None = None) -> EditReport:
    """A grid gets a new shape (and optionally a new name)."""
    shape = shapes.parse_area(geometry, crs)
    name = _name(name, "name")
    edit = Edit(session, request, "reshape")
    (row,) = edit.lock([code])
    target = edit.reshape(row, _fit_in_place(edit, row, shape, where="geometry"))
    if name:
        target.name = name
        target.actions.append("renamed")
    return edit.finish()


def _fit_in_place(edit: Edit, row: Row, shape: BaseGeometry, *, where: str) -> BaseGeometry:
    """A grid's new shape, kept where it stands: inside its parent, off its siblings (``fit``
    clips it, ``strict`` refuses), still holding its children; refused with every problem found."""
    parent_geom = edit.parent_shape(row.parent_code, row.subdistrict_code)
    neighbours = {c: r.geom for c, r in edit.siblings(row.level, row.parent_code, row.subdistrict_code,
                                                        near=shape).items() if c != row.code}
    shape = edit.fit(shape, parent=parent_geom, neighbours=neighbours, label=row.code, where=where)
    _children_follow(edit, row, shape)
    edit.refuse_if_problems()
    return shape


def _children_follow(edit: Edit, row: Row, shape: BaseGeometry) -> None:
    """A grid's new shape must still hold its children: ``strict`` refuses a shape they would
    spill out of; ``fit`` clips them (and theirs) to it."""
    for child in edit.children(row.code):
        spill = shapes.difference(child.geom, shape)
        area = shapes.area_m2(spill)
        if area <= edit.tolerance:
            continue
        rest = shapes.intersection(child.geom, shape)
        if edit.request.mode == "strict" or shapes.area_m2(rest) <= edit.tolerance:
            edit.problems.append({"where": "geometry", "grid": child.code, "problem": "child_outside", "area_m2":
                                  round(area, 2), "message": f"下级网格 {child.code} 将有 {area:.1f} m² 落在新边界外，请先调整"
                                  f"下级或用 fit / child grid {child.code} would lie {area:.1f} m² outside the new shape: "
                                  "adjust it first, or use mode fit to clip it"})
            continue
        _clip(edit, spill, edit.reshape(child, rest, "clipped to parent"))
        edit.adjustments.append({"grid": child.code, "what": "child_clipped", "area_m2": round(area, 2),
                                 "message": f"下级网格 {child.code} 裁去 {area:.1f} m² / child grid {child.code} clipped "
                                            f"by {area:.1f} m²"})


def transfer(session: Session, request: EditRequest, code: str, *, to: str, area, crs: str | None = None) -> EditReport:
    """Give the part of grid ``code`` inside the drawn ``area`` to its neighbour ``to``."""
    drawn = shapes.parse_area(area, crs, where="area")
    if to == code:
        raise InvalidInput("转出与转入网格相同 / a grid cannot give area to itself", where="to")
    edit = Edit(session, request, "transfer")
    giver, receiver = edit.lock([code, to])
    if _family(giver) != _family(receiver):
        raise InvalidInput(f"{to} 与 {code} 不属于同一上级，请先调整上级边界 / {to} and {code} are not siblings "
                           "(same level, same parent): move the border between their parents first", where="to")
    piece = shapes.intersection(giver.geom, drawn)
    if shapes.area_m2(piece) <= edit.tolerance:
        raise InvalidInput(f"所画范围与网格 {code} 没有重叠 / the drawn area does not overlap grid {code}",
                           where="area")
    rest = shapes.difference(giver.geom, drawn)
    _not_taking_all(giver, rest, "area", edit.tolerance)
    for part in shapely.get_parts(piece):
        if shapes.shared_border_m(part, receiver.geom) == 0 and shapes.area_m2(part) > edit.tolerance:
            centre = part.centroid
            gap = shapes.to_metres(shapely.shortest_line(part, receiver.geom), (centre.x, centre.y)).length
            raise InvalidInput(f"划出部分（{shapes.area_m2(part):.0f} m²，位于 {centre.x:.6f}, {centre.y:.6f}）与网格 {to} "
                               f"不相邻 / a part to move ({shapes.area_m2(part):.0f} m² at {centre.x:.6f}, "
                               f"{centre.y:.6f}) shares no border with grid {to} ({gap:.1f} m away): it would be "
                               "an exclave", where="area")
    _give(edit, piece, edit.reshape(giver, rest, "gave area"),
          edit.reshape(receiver, shapes.union(receiver.geom, piece), "received area"))
    return edit.finish()


def _family(row: Row) -> tuple:
    return row.level, row.parent_code, row.subdistrict_code


def _kids(edit: Edit, parent: Target) -> list[Row]:
    """The children ``parent`` has at this point of the edit: its own (less those moving away)
    and those this edit has already moved under it."""
    own = edit.children(parent.row.code) if parent.row else []
    moved_in = [t.row for t in edit.targets.values()
                if t.row is not None and t.parent_code == parent.code and t.row.parent_code != parent.code]
    staying = [k for k in own if edit.target(k).parent_code == parent.code and not edit.target(k).retired]
    return staying + moved_in


def _give(edit: Edit, piece: BaseGeometry, giver: Target, receiver: Target) -> None:
    """Carry a transfer down the tree: the giver's children give their part of ``piece`` to the
    receiver's child sharing the longest border with it; a child wholly inside moves across
    (re-coded under the receiver). Where the receiver is not subdivided, the part just leaves
    the giver's children (and their children)."""
    tolerance = edit.tolerance
    for child in edit.children(giver.row.code):
        current = edit.target(child).geom
        part = shapes.intersection(current, piece)
        if shapes.area_m2(part) <= tolerance:
            continue
        if shapes.area_m2(shapes.difference(current, piece)) <= tolerance:
            edit.move_children([child], receiver)
            continue
        child_target = edit.reshape(child, shapes.difference(current, piece), "gave area")
        kids = _kids(edit, receiver)
        borders = {k.code: shapes.shared_border_m(part, edit.target(k).geom) for k in kids}
        best = max(borders, key=borders.get, default=None)
        if best is None or borders[best] == 0:
            if kids:
                edit.warnings.append(f"{child.code} 划出的部分不与 {receiver.code} 的任何下级相邻，形成盲区 / the part "
                                     f"{child.code} gives up touches none of {receiver.code}'s children: it is left "
                                     "as a blind spot")
            _clip(edit, part, child_target)
            continue
        kid = next(k for k in kids if k.code == best)
        # what the receiver's other children already hold (an old overlap) stays theirs
        held = shapes.union(*(edit.target(k).geom for k in kids if k.code != best))
        given = shapes.difference(part, held)
        kid_target = edit.reshape(kid, shapes.union(edit.target(kid).geom, given), "received area")
        _give(edit, given, child_target, kid_target)
        _clip(edit, shapes.intersection(part, held), child_target)


def _clip(edit: Edit, area: BaseGeometry, parent: Target) -> None:
    """Take ``area`` out of the children of ``parent`` (all the way down); a child left with
    nothing is retired, and said so."""
    if area.is_empty or parent.row is None:
        return
    for child in edit.children(parent.row.code):
        current = edit.target(child).geom
        if shapes.area_m2(shapes.intersection(current, area)) <= edit.tolerance:
            continue
        rest = shapes.difference(current, area)
        if shapes.area_m2(rest) <= edit.tolerance:
            edit.retire(child)
            edit.warnings.append(f"{child.code} 的全部面积已划出，随之撤销 / all of {child.code} was given away, so it "
                                 "is retired")
            continue
        _clip(edit, area, edit.reshape(child, rest, "gave area"))


def _line_pieces(edit: Edit, row: Row, cut: BaseGeometry) -> list[BaseGeometry]:
    """The parts of a grid a line cuts it into: only the polygons the line crosses are cut;
    a sliver piece joins the piece beside it, an untouched polygon the piece it touches most
    (or the largest)."""
    cut_pieces, untouched = [], []
    for polygon in shapely.get_parts(row.geom):
        pieces = [shapes.on_grid(p) for p in shapely.get_parts(shapely.ops.split(polygon, cut))]
        (cut_pieces.extend(pieces) if len(pieces) > 1 else untouched.append(polygon))
    big = [p for p in cut_pieces if shapes.area_m2(p) > edit.tolerance]
    if len(big) < 2:
        raise InvalidInput(f"切割线未把网格 {row.code} 分成两部分：线的两端须越过网格边界 / the line does not cut "
                           f"grid {row.code} in two: it must cross the grid's boundary at both ends", where="line")
    for extra in [p for p in cut_pieces if shapes.area_m2(p) <= edit.tolerance] + untouched:
        borders = [shapes.shared_border_m(extra, p) for p in big]
        best = max(range(len(big)), key=lambda i: (borders[i], shapes.area_m2(big[i])))
        big[best] = shapes.union(big[best], extra)
    return big


def _split_children(edit: Edit, children: list[Row], parts: list[Target]) -> None:
    """Each child goes under the part holding most of it; what lies in another part becomes a
    new child of that part, so every level stays nested."""
    for child in children:
        overlaps = [(shapes.area_m2(shapes.intersection(child.geom, p.geom)), i) for i, p in enumerate(parts)]
        home = max(overlaps)[1]
        for area, i in overlaps:
            if i == home or area <= edit.tolerance:
                continue
            edit.create(parent_code=parts[i].code, subdistrict=child.subdistrict_code, level=child.level,
                        name=f"{child.name}（拆分）", geom=shapes.intersection(child.geom, parts[i].geom))
        if any(i != home and area > edit.tolerance for area, i in overlaps):
            edit.reshape(child, shapes.intersection(child.geom, parts[home].geom), "split along the cut")
        if parts[home].code != child.parent_code:
            edit.move_children([child], parts[home])


def split(session: Session, request: EditRequest, code: str, *, line=None, parts: list[dict] | None = None,
          names: list[str] | None = None, crs: str | None = None) -> EditReport:
    """Cut a grid by a line, or into drawn parts, into two or more grids."""
    if (line is None) == (parts is None):
        raise InvalidInput("需要 line（切割线）或 parts（分区多边形）之一 / give either a cutting line or "
                           "parts (polygons)", where="line")
    if line is not None:
        cut = shapes.parse_line(line, crs)
        edit = Edit(session, request, "split")
        (row,) = edit.lock([code])
        pieces, specs = _cut_by_line(edit, row, cut, names)
    else:
        if not isinstance(parts, list) or len(parts) < 2:
            raise InvalidInput("parts 至少需要两个多边形 / parts needs at least two polygons", where="parts")
        drawn = [shapes.parse_area(p.get("geometry") if isinstance(p, dict) else None, crs,
                                   where=f"parts[{i}].geometry") for i, p in enumerate(parts)]
        edit = Edit(session, request, "split")
        (row,) = edit.lock([code])
        pieces, specs = _cut_into_parts(edit, row, drawn, parts)
    results = _split_into(edit, row, pieces, specs)
    _split_children(edit, edit.children(code), results)
    return edit.finish()


def _cut_by_line(edit: Edit, row: Row, cut: BaseGeometry, names: list[str] | None) -> tuple[list, list[dict]]:
    """The pieces a line cuts, north-west first; the largest keeps the grid, ``names`` go to the
    others in order."""
    pieces = _line_pieces(edit, row, cut)
    pieces.sort(key=lambda p: (-round(p.centroid.y, 5), p.centroid.x))
    keep = max(range(len(pieces)), key=lambda i: shapes.area_m2(pieces[i]))
    specs = [{"name": None, "keep": i == keep} for i in range(len(pieces))]
    for i, name in enumerate(names or []):
        others = [s for j, s in enumerate(specs) if j != keep]
        if i < len(others):
            others[i]["name"] = name
    return pieces, specs


def _cut_into_parts(edit: Edit, row: Row, drawn: list[BaseGeometry], parts: list[dict]) -> tuple[list, list[dict]]:
    """The grid's area in each drawn part, earlier parts first where they overlap; in ``strict``
    mode an overlap or an area in no part is refused, otherwise what is left joins the part it
    borders most. The part marked ``keep`` (or the largest) keeps the grid."""
    pieces, taken = [], shapely.MultiPolygon()
    for i, shape in enumerate(drawn):
        mine = shapes.intersection(row.geom, shape)
        overlap = shapes.area_m2(shapes.intersection(mine, taken))
        if overlap > edit.tolerance and edit.request.mode == "strict":
            edit.problems.append({"where": f"parts[{i}]", "problem": "overlap", "area_m2": round(overlap, 2),
                                  "message": f"parts[{i}] 与前面的部分重叠 {overlap:.1f} m² / parts[{i}] overlaps "
                                             f"an earlier part by {overlap:.1f} m²"})
        mine = shapes.difference(mine, taken)
        if shapes.area_m2(mine) <= edit.tolerance:
            edit.problems.append({"where": f"parts[{i}]", "problem": "nothing_left", "message":
                                  f"parts[{i}] 不含网格 {row.code} 的面积 / parts[{i}] holds none of grid {row.code}"})
        taken = shapes.union(taken, mine)
        pieces.append(mine)
    left = shapes.difference(row.geom, taken)
    left_area = shapes.area_m2(left)
    if left_area > edit.tolerance and edit.request.mode == "strict":
        edit.problems.append({"where": "parts", "problem": "uncovered", "area_m2": round(left_area, 2),
                              "message": f"各部分未覆盖网格 {row.code} 的 {left_area:.1f} m² / the parts leave "
                                         f"{left_area:.1f} m² of grid {row.code} in no part",
                              "geometry": shapely.geometry.mapping(left)})
    edit.refuse_if_problems()
    for bit in shapely.get_parts(left):
        best = max(range(len(pieces)), key=lambda i: shapes.shared_border_m(bit, pieces[i]))
        pieces[best] = shapes.union(pieces[best], bit)
    if left_area > 0:
        edit.adjustments.append({"grid": row.code, "what": "assigned_leftover", "area_m2": round(left_area, 2),
                                 "message": f"未划入任何部分的 {left_area:.2f} m² 并入相邻部分 / {left_area:.2f} m² "
                                            "in no part joined the neighbouring part"})
    marked = [i for i, p in enumerate(parts) if p.get("keep")]
    keep = marked[0] if marked else max(range(len(pieces)), key=lambda i: shapes.area_m2(pieces[i]))
    return pieces, [{"name": p.get("name"), "keep": i == keep} for i, p in enumerate(parts)]


def _split_into(edit: Edit, row: Row, pieces: list, specs: list[dict]) -> list[Target]:
    """The kept piece reshapes the grid (code, team and history stay); each other piece is a new
    sibling, named as given or after the grid."""
    results: list[Target] = []
    for i, (piece, spec) in enumerate(zip(pieces, specs, strict=True)):
        name = _name(spec["name"], f"parts[{i}].name")
        if spec["keep"]:
            target = edit.reshape(row, piece, "kept part")
            if name:
                target.name = name
        else:
            target = edit.create(parent_code=row.parent_code, subdistrict=row.subdistrict_code, level=row.level,
                                 name=name or f"{row.name}（{len(results) + 1}）", geom=piece)
        results.append(target)
    return results


def merge(session: Session, request: EditRequest, codes: list[str], *, into: str | None = None,
          name: str | None = None, operation: str = "merge") -> EditReport:
    """Adjacent sibling grids become one: ``into`` keeps its code; the others are retired."""
    codes = list(dict.fromkeys(codes))
    if len(codes) < 2:
        raise InvalidInput("合并至少需要两个网格 / a merge needs at least two grids", where="codes")
    into = into or min(codes)
    if into not in codes:
        raise InvalidInput(f"into {into} 不在待合并网格中 / into {into} is not one of the grids merged",
                           where="into")
    edit = Edit(session, request, operation)
    rows = edit.lock(codes)
    families = {_family(r) for r in rows}
    if len(families) > 1:
        raise InvalidInput("只能合并同一上级下的同级网格 / only grids of one level under one parent can be merged",
                           where="codes")
    merged = rows[codes.index(into)].geom
    pending = [r for r in rows if r.code != into]
    while pending:
        joined = next((r for r in pending if shapes.shared_border_m(r.geom, merged) > 0), None)
        if joined is None:
            raise InvalidInput(f"网格 {', '.join(r.code for r in pending)} 与其余网格不相邻 / grid(s) "
                               f"{', '.join(r.code for r in pending)} share no border with the rest", where="codes")
        merged = shapes.union(merged, joined.geom)
        pending.remove(joined)
    survivor = edit.reshape(rows[codes.index(into)], merged, "absorbed " + ", ".join(c for c in codes if c != into))
    if name:
        survivor.name = _name(name, "name")
    for row in rows:
        if row.code != into:
            children = edit.children(row.code)
            edit.retire(row)
            edit.move_children(children, survivor)
    return edit.finish()


def retire(session: Session, request: EditRequest, code: str, *, into: str | None = None,
           leave_uncovered: bool = False) -> EditReport:
    """Retire a grid, its area going to its neighbours (never silently uncovered)."""
    if into is not None:
        return merge(session, request, [into, code], into=into, operation="retire")
    edit = Edit(session, request, "retire")
    (row,) = edit.lock([code])
    neighbours = edit.siblings(row.level, row.parent_code, row.subdistrict_code, near=row.geom)
    neighbours.pop(code, None)
    shares: dict[str, list] = {}
    lonely = []
    for part in shapely.get_parts(row.geom):
        borders = {c: shapes.shared_border_m(part, n.geom) for c, n in neighbours.items()}
        best = max(borders, key=borders.get, default=None)
        if best is None or borders[best] == 0:
            lonely.append(part)
        else:
            shares.setdefault(best, []).append(part)
    children = edit.children(code)
    if lonely and children and any(shapes.area_m2(shapes.intersection(c.geom, shapes.union(*lonely)))
                                   > edit.tolerance for c in children):
        raise InvalidInput(f"网格 {code} 无邻接网格接收的部分内有下级网格，请先处理下级 / part of grid {code} that no "
                           "neighbour can take holds child grids: retire or move them first", where="into")
    if lonely and not leave_uncovered:
        raise InvalidInput(f"网格 {code} 有部分无相邻网格可接收，撤销会留下盲区；请指定 into 或 leave_uncovered / part "
                           f"of grid {code} touches no sibling, so retiring it would leave a blind spot: name "
                           "'into' or pass leave_uncovered", where="into")
    if children and not shares:
        raise InvalidInput(f"网格 {code} 有下级网格且无相邻网格接收 / grid {code} has children and no neighbour to "
                           "take them: move or retire them first", where="into")
    locked = {r.code: r for r in edit.lock(sorted(shares), check=False)} if shares else {}
    receivers = [edit.reshape(locked[c], shapes.union(locked[c].geom, *parts), "received area")
                 for c, parts in sorted(shares.items())]
    edit.retire(row)
    if children:
        edit.children_to_receivers(children, receivers)
    return edit.finish()


def restore(session: Session, request: EditRequest, code: str, *, version: int) -> EditReport:
    """Make an old version the current one again — as a new version; history is never rewritten."""
    edit = Edit(session, request, "restore")
    (row,) = edit.lock([code], allow_retired=True)
    old = session.execute(text(
        "SELECT name, ST_AsBinary(geom) AS wkb, retired FROM grid_versions v "
        "WHERE grid_id = :id AND version = :version"), {"id": row.id, "version": version}).first()
    if old is None:
        raise NotFound(f"网格 {code} 没有第 {version} 版 / grid {code} has no version {version}", where="version")
    if old.retired:
        raise InvalidInput(f"第 {version} 版是撤销记录，不能恢复为现状 / version {version} records the retirement: "
                           "restore a version before it", where="version")
    shape = _fit_in_place(edit, row, shapely.from_wkb(old.wkb), where="version")
    target = edit.reshape(row, shape, f"restored version {version}")
    target.name = old.name
    target.retired = False
    return edit.finish()
