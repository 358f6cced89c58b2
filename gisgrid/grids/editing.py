"""Boundary edits: create, reshape, transfer, split, merge, retire, restore — one engine.

Every operation works the same way, so each gets the same guarantees:

1. the drawn shapes are parsed and checked (:mod:`gisgrid.grids.shapes`) before any lock;
2. the grids it changes are locked (``FOR UPDATE``, parent first, then by code), and so is
   their parent, which serialises every edit of one family; each changed grid's version must
   match the one the caller started from (missing → 428, stale → 409 with the current shape);
3. the operation computes the final state of every grid it touches — shapes on the 1e-7°
   storage grid, codes for new grids (never reusing a retired grid's), children re-coded under
   a new parent when theirs goes away — and checks it against the parent and the siblings:
   ``strict`` refuses with the reasons, ``fit`` clips and fills slivers and says what it
   changed;
4. it is written in one statement per grid (one new version each, with who / why / which
   operation, by the history trigger), membership is refreshed over the changed area, and the
   impact report compares the database before and after (:mod:`gisgrid.grids.impact`).

Nothing here commits: the caller commits (a real call) or rolls back (a dry run), so a change
lands entirely or not at all, and the preview is the same computation as the save.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.database import set_change_context
from gisgrid.core.errors import Conflict, InvalidInput, NotFound, PreconditionRequired
from gisgrid.core.settings import get_settings
from gisgrid.grids import impact, membership, shapes
from gisgrid.grids.edit_report import Adjustment, EditReport, GridChange, ReleasedMember
from gisgrid.grids.models import LEVEL_NAMES, check_grid_code, no_such_grid

MODES = ("strict", "fit")
DUST_M = 0.05  # precision dust: nowhere wider than 5 cm (the storage grid is 1 cm)


@dataclass
class EditRequest:
    """Who changes what, why, from which versions, and whether to keep the result."""

    actor: str
    reason: str
    mode: str = "strict"
    versions: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not self.reason or not self.reason.strip():
            raise InvalidInput("修改网格必须说明原因 / a grid change needs a reason", where="reason")
        if len(self.reason) > 500:
            raise InvalidInput("原因最多 500 字 / the reason is longer than 500 characters", where="reason")
        for field_name in ("actor", "reason"):
            if "\x00" in getattr(self, field_name):
                raise InvalidInput(f"{field_name} 含有 NUL 字符 / {field_name} contains a NUL character",
                                   where=field_name)
        if self.mode not in MODES:
            raise InvalidInput(f"mode 应为 strict 或 fit，收到 {self.mode!r} / mode must be 'strict' "
                               f"or 'fit', got {self.mode!r}", where="mode")


@dataclass
class Row:
    """A grid as it is in the database (locked when it will change)."""

    id: int
    code: str
    parent_code: str | None
    level: int
    subdistrict_code: str
    serial: int
    name: str
    version: int
    geom: BaseGeometry
    retired: bool


@dataclass
class Target:
    """The state one grid will have after the change."""

    row: Row | None
    code: str
    parent_code: str | None
    level: int
    subdistrict_code: str
    serial: int
    name: str
    geom: BaseGeometry
    retired: bool = False
    actions: list[str] = field(default_factory=list)


_COLUMNS = ("id, code, parent_code, level, subdistrict_code, serial, name, version, "
            "ST_AsBinary(geom) AS wkb, retired_at IS NOT NULL AS retired")


def _row(r) -> Row:
    return Row(r.id, r.code, r.parent_code, r.level, r.subdistrict_code, r.serial, r.name, r.version,
               shapely.from_wkb(r.wkb), r.retired)


def grid_feature(row: Row) -> dict:
    return {"type": "Feature", "id": row.code,
            "geometry": json.loads(shapely.to_geojson(shapes.on_grid(row.geom))),
            "properties": {"code": row.code, "name": row.name, "level": row.level,
                           "parent_code": row.parent_code, "version": row.version,
                           "retired": row.retired}}


def etag(version: int) -> str:
    return f'"v{version}"'


def parse_if_match(value: str | None) -> int | None:
    """``"v3"``, ``v3``, ``"3"`` or ``3`` → 3; anything else is a 422 naming the header."""
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"').removeprefix("v")
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise InvalidInput(f"If-Match 应为版本号，如 \"v3\"（其 ETag），收到 {value!r} / If-Match must be a "
                           f"version such as \"v3\" (the ETag of the grid or record), got {value!r}", where="If-Match")
    return int(raw)


class Edit:
    """One change under construction, inside the caller's transaction."""

    def __init__(self, session: Session, request: EditRequest, operation: str):
        self.session, self.request, self.operation = session, request, operation
        self.tolerance = get_settings().sliver_tolerance_m2
        self.snap_m = get_settings().snap_tolerance_m
        self.targets: dict[str, Target] = {}      # by the code the grid has now (or gets, if new)
        self.locked: dict[str, Row] = {}
        self.adjustments: list[Adjustment] = []
        self.warnings: list[str] = []
        self.problems: list[dict] = []
        self._serials: dict[tuple[str, str | None], int] = {}
        # an edit queues behind another edit of the same family, but not for ever
        session.execute(text("SET LOCAL lock_timeout = '15s'"))

    # --- reading and locking ------------------------------------------------------------------

    def lock(self, codes: list[str], *, allow_retired: bool = False, check: bool = True) -> list[Row]:
        """Lock grids that will change, after their parents, and check the versions the caller
        started from (``check=False`` for grids the operation picks itself, such as the
        neighbours a retired grid's area goes to)."""
        for code in codes:
            check_grid_code(code)
        rows = {r.code: _row(r) for r in self.session.execute(
            text(f"SELECT {_COLUMNS} FROM grids WHERE code = ANY(:codes)"), {"codes": list(codes)})}
        for code in codes:
            if code not in rows:
                raise no_such_grid(code)
        for parent in sorted({(r.level, r.parent_code, r.subdistrict_code) for r in rows.values()},
                             key=lambda p: (p[0], p[1] or "")):
            self.lock_parent(parent[1], parent[2])
        locked = [_row(r) for r in self.session.execute(
            text(f"SELECT {_COLUMNS} FROM grids WHERE code = ANY(:codes) ORDER BY level, code FOR UPDATE"),
            {"codes": list(codes)})]
        gone = set(codes) - {row.code for row in locked}
        if gone:  # re-coded by an edit that committed while we waited for the lock
            raise Conflict(f"网格 {', '.join(sorted(gone))} 刚被他人修改编码 / grid(s) {', '.join(sorted(gone))} were "
                           "just re-coded by another change: reload", where="code")
        for row in locked:
            if row.retired and not allow_retired:
                raise Conflict(f"网格 {row.code} 已撤销 / grid {row.code} is retired: restore it first",
                               where="code", grid=row.code, current_version=row.version)
            if check:
                self._check_version(row)
            self.locked[row.code] = row
        return sorted(locked, key=lambda r: codes.index(r.code))

    def _check_version(self, row: Row) -> None:
        given = self.request.versions.get(row.code)
        if given is None:
            if self.request.dry_run:
                return
            raise PreconditionRequired(
                f"修改网格 {row.code} 须提供起始版本（If-Match 或 versions）/ changing grid {row.code} "
                "needs the version you started from: send its ETag in If-Match (GET /grids/{code}), "
                "or 'versions': {code: version}", where="If-Match", grid=row.code)
        if given != row.version:
            raise Conflict(
                f"网格 {row.code} 已被他人修改：当前版本 {row.version}，您的版本 {given} / grid {row.code} "
                f"was changed by someone else: it is at version {row.version}, you started from {given}",
                where="If-Match", grid=row.code, current_version=row.version,
                current=grid_feature(row))

    def lock_parent(self, parent_code: str | None, subdistrict: str) -> None:
        if parent_code is None:
            self.session.execute(text("SELECT 1 FROM subdistricts WHERE code = :c FOR UPDATE"),
                                 {"c": subdistrict})
        else:
            self.session.execute(text("SELECT 1 FROM grids WHERE code = :c FOR UPDATE"), {"c": parent_code})

    def parent_shape(self, parent_code: str | None, subdistrict: str) -> BaseGeometry:
        if parent_code is None:
            wkb = self.session.execute(text("SELECT ST_AsBinary(boundary) FROM subdistricts WHERE code = :c"),
                                       {"c": subdistrict}).scalar_one_or_none()
            if wkb is None:
                raise NotFound(f"没有编码为 {subdistrict} 的街道 / no sub-district with code {subdistrict}",
                               where="parent")
        else:
            wkb = self.session.execute(
                text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c AND retired_at IS NULL"),
                {"c": parent_code}).scalar_one_or_none()
            if wkb is None:
                raise no_such_grid(parent_code, where="parent", active=True)
        return shapely.from_wkb(wkb)

    def siblings(self, level: int, parent_code: str | None, subdistrict: str,
                 near: BaseGeometry | None = None) -> dict[str, Row]:
        """Active grids of one family (optionally only those whose box meets ``near``)."""
        sql = (f"SELECT {_COLUMNS} FROM grids WHERE retired_at IS NULL AND level = :level "
               "AND subdistrict_code = :sd AND parent_code IS NOT DISTINCT FROM :parent")
        params = {"level": level, "sd": subdistrict, "parent": parent_code}
        if near is not None:
            sql += " AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
            pad = shapes.degrees_for(self.snap_m * 2, near.centroid.y)
            x0, y0, x1, y1 = near.bounds
            params.update(x0=x0 - pad, y0=y0 - pad, x1=x1 + pad, y1=y1 + pad)
        return {r.code: _row(r) for r in self.session.execute(text(sql + " ORDER BY code"), params)}

    def children(self, code: str, *, retired: bool = False) -> list[Row]:
        """A grid's children, locked: an edit that reshapes or re-codes them holds them, so a
        concurrent edit one level down (which locks their parent first) waits for it."""
        active = "" if retired else " AND retired_at IS NULL"
        return [_row(r) for r in self.session.execute(
            text(f"SELECT {_COLUMNS} FROM grids WHERE parent_code = :c{active} ORDER BY code FOR UPDATE"),
            {"c": code})]

    def next_serial(self, parent_code: str | None, subdistrict: str, *, after: int = 0) -> int:
        """The next serial under a parent: after every serial it ever gave out (history included,
        so a code that moved away with a re-coded child is not handed out again), and after
        ``after`` (serials the change itself is about to give, such as a layer's own codes)."""
        key = (subdistrict, parent_code)
        if key not in self._serials:
            if parent_code is None:
                sql = ("SELECT coalesce(max(right(code, 3)::int), 0) FROM grid_versions "
                       "WHERE level = 1 AND left(code, 9) = :p")
            else:
                sql = "SELECT coalesce(max(right(code, 3)::int), 0) FROM grid_versions WHERE parent_code = :p"
            self._serials[key] = self.session.execute(text(sql), {"p": parent_code or subdistrict}).scalar_one()
        self._serials[key] = max(self._serials[key], after) + 1
        if self._serials[key] > 999:
            raise InvalidInput(f"{parent_code or subdistrict} 下的编号已用完（999）/ no serial left under "
                               f"{parent_code or subdistrict}: 999 are used", where="parent")
        return self._serials[key]

    # --- building the change ------------------------------------------------------------------

    def target(self, row: Row) -> Target:
        if row.code not in self.targets:
            self.targets[row.code] = Target(row, row.code, row.parent_code, row.level, row.subdistrict_code,
                                            row.serial, row.name, row.geom, row.retired)
        return self.targets[row.code]

    def reshape(self, row: Row, geom: BaseGeometry, action: str = "reshaped") -> Target:
        target = self.target(row)
        target.geom = shapes.as_multi(geom)
        target.actions.append(action)
        return target

    def create(self, *, parent_code: str | None, subdistrict: str, level: int, name: str,
               geom: BaseGeometry, serial: int | None = None) -> Target:
        if serial is None:
            serial = self.next_serial(parent_code, subdistrict)
        code = (parent_code or subdistrict) + f"{serial:03d}"
        if code in self.targets or self.session.execute(
                text("SELECT 1 FROM grid_versions WHERE code = :c LIMIT 1"), {"c": code}).first():
            raise Conflict(f"编码 {code} 已被使用（编码不重复使用）/ code {code} is taken (codes are never "
                           "reused, retired grids included)", where="serial")
        target = Target(None, code, parent_code, level, subdistrict, serial,
                        name or f"{LEVEL_NAMES[level][0]}{serial}", shapes.as_multi(geom), actions=["created"])
        self.targets[code] = target
        return target

    def retire(self, row: Row) -> Target:
        target = self.target(row)
        target.retired = True
        target.actions.append("retired")
        return target

    def move_children(self, children: list[Row], new_parent: Target) -> None:
        """Re-code children (and their subtrees, retired grids included, since a code must
        always extend its parent's) under ``new_parent``: new serials after its own."""
        for child in children:
            target = self.target(child)
            serial = self.next_serial(new_parent.code, child.subdistrict_code)
            new_code = new_parent.code + f"{serial:03d}"
            target.code, target.parent_code, target.serial = new_code, new_parent.code, serial
            target.actions.append(f"recoded from {child.code}")
            self.move_children(self.children(child.code, retired=True), target)

    def children_to_receivers(self, children: list[Row], receivers: list[Target]) -> None:
        """Each child goes under the receiver holding most of its area."""
        for child in children:
            best = max(receivers, key=lambda r: shapes.area_m2(shapes.intersection(child.geom, r.geom)))
            if best.code != child.parent_code:
                self.move_children([child], best)

    def fit(self, shape: BaseGeometry, *, parent: BaseGeometry, neighbours: dict[str, BaseGeometry],
            label: str, where: str, fill_slivers: bool = True) -> BaseGeometry:
        """Check a drawn shape against its parent and siblings; in ``fit`` mode make it fit.

        Fit only takes away what spills out of the parent and what overlaps a sibling, then fills
        the slivers the shape borders most (unless ``fill_slivers`` is off: a layer fills them once
        its whole family is placed). No vertex is moved towards a neighbour, so area never passes
        between grids whose input did not overlap, and a shape cannot fold into a tail or two parts.
        """
        fit = self.request.mode == "fit"
        spill = shapes.difference(shape, parent)
        spill_area = shapes.area_m2(spill)
        if spill_area > self.tolerance and not fit:
            self.problems.append({"where": where, "grid": label, "problem": "outside_parent",
                                  "area_m2": round(spill_area, 2), "message":
                                  f"{label} 有 {spill_area:.1f} m² 超出上级范围 / {label} extends {spill_area:.1f} m² "
                                  "outside its parent", "geometry": json.loads(shapely.to_geojson(spill))})
        if spill_area > 0:
            shape = shapes.intersection(shape, parent)
            if fit or spill_area <= self.tolerance:
                self.adjustments.append({"grid": label, "what": "clipped_to_parent", "area_m2": round(spill_area, 2),
                                         "message": f"裁去超出上级的 {spill_area:.2f} m² / clipped {spill_area:.2f} m² "
                                                    "outside the parent"})
        for code, other in sorted(neighbours.items()):
            overlap = shapes.intersection(shape, other)
            area = shapes.area_m2(overlap)
            if area <= 0:
                continue
            if area > self.tolerance and not fit:
                self.problems.append({"where": where, "grid": label, "problem": "overlap", "with": code,
                                      "area_m2": round(area, 2), "message":
                                      f"{label} 与网格 {code} 重叠 {area:.1f} m² / {label} overlaps grid {code} "
                                      f"by {area:.1f} m²", "geometry": json.loads(shapely.to_geojson(overlap))})
            shape = shapes.difference(shape, other)
            if fit or area <= self.tolerance:
                self.adjustments.append({"grid": label, "what": "clipped_to_sibling", "with": code,
                                         "area_m2": round(area, 2), "message":
                                         f"让出与 {code} 重叠的 {area:.2f} m² / gave up {area:.2f} m² overlapping {code}"})
        if fit and fill_slivers and not shape.is_empty:
            shape = self.fill_slivers({label: shape}, parent, neighbours)[label]
        if shape.is_empty or shapes.area_m2(shape) <= self.tolerance:
            self.problems.append({"where": where, "grid": label, "problem": "nothing_left", "message":
                                  f"{label} 裁剪后不剩面积 / nothing of {label} is left inside its parent "
                                  "once its siblings' area is taken out"})
        return shapes.as_multi(shape)

    def fill_slivers(self, changing: dict[str, BaseGeometry], parent: BaseGeometry,
                     others: dict[str, BaseGeometry]) -> dict[str, BaseGeometry]:
        """Gaps nowhere wider than the snap tolerance among ``changing`` (by label) and ``others``
        (siblings left as they are) each join the grid sharing the longest border with them, if
        that grid is changing: a slit between two grids goes to one of them, never as a tail to a
        third that only closes its end."""
        family = {**others, **changing}
        area = shapes.union(*changing.values())
        if area.is_empty:
            return dict(changing)
        near = shapely.box(*area.buffer(shapes.degrees_for(self.snap_m * 3, area.centroid.y)).bounds)
        pockets = shapes.difference(shapes.intersection(parent, near), shapes.union(*family.values()))
        gained: dict[str, list[BaseGeometry]] = {}
        for piece in shapely.get_parts(pockets):
            if piece.intersects(near.boundary) or not shapes.is_thin(piece, self.snap_m):
                continue
            borders = {key: shapes.shared_border_m(piece, geom) for key, geom in family.items()
                       if geom.intersects(piece)}
            owner = max(borders, key=borders.get, default=None)
            if owner in changing and borders[owner] > 0:
                gained.setdefault(owner, []).append(piece)
        filled = dict(changing)
        for label, pieces in gained.items():
            area_m2 = sum(shapes.area_m2(p) for p in pieces)
            self.adjustments.append({"grid": label, "what": "filled_slivers", "area_m2": round(area_m2, 2),
                                     "message": f"填补 {len(pieces)} 处窄缝共 {area_m2:.2f} m² / filled {len(pieces)} "
                                                f"sliver gap(s) of {area_m2:.2f} m² along the new border"})
            filled[label] = shapes.as_multi(shapes.union(changing[label], *pieces))
        return filled

    def refuse_if_problems(self) -> None:
        if self.problems:
            first = self.problems[0]
            raise InvalidInput(first["message"], where=first["where"], problems=self.problems)

    # --- writing --------------------------------------------------------------------------------

    def _scope(self) -> tuple[set[str], set[int], BaseGeometry]:
        families, ids, changed = set(), set(), []
        for target in self.targets.values():
            row = target.row
            for parent in {target.parent_code, row.parent_code if row else None}:
                families.add(parent or target.subdistrict_code)
            families.add(target.code)
            if row:
                families.add(row.code)
                ids.add(row.id)
                if target.retired and not row.retired:
                    changed.append(row.geom)
                elif row.retired and not target.retired:
                    changed.append(target.geom)
                elif not target.geom.equals(row.geom):
                    changed.append(shapely.symmetric_difference(row.geom, target.geom, grid_size=shapes.GRID))
            else:
                changed.append(target.geom)
        return families, ids, shapes.union(*[shapes.polygonal(c) for c in changed])

    def _tidy(self) -> None:
        """Keep precision dust out of the layer. Rounding to the storage grid can bend a new
        border by a centimetre where a drawn vertex sits on an old one; a changed grid then
        spills a hair outside its parent or leaves a hair-thin gap. Such dust (nowhere wider
        than ``DUST_M``) is clipped off or joins the changed grid beside it, in both modes."""
        families: dict[tuple, list[Target]] = {}
        for target in self.targets.values():
            if not target.retired and (target.row is None or not target.geom.equals_exact(target.row.geom, 0)):
                families.setdefault((target.level, target.parent_code, target.subdistrict_code), []).append(target)
        for (level, parent_code, subdistrict), changed in families.items():
            parent_target = self.targets.get(parent_code) if parent_code else None
            parent = parent_target.geom if parent_target else self.parent_shape(parent_code, subdistrict)
            # exact overlays here: dust is thinner than the storage grid, which would hide it
            for target in changed:
                spill = shapes.polygonal(shapely.difference(target.geom, parent))
                if not spill.is_empty and all(shapes.is_thin(p, DUST_M) for p in shapely.get_parts(spill)):
                    target.geom = shapes.as_multi(shapes.on_grid(shapely.intersection(target.geom, parent)))
            area = shapes.union(*(t.geom for t in changed))
            family = {code: row.geom for code, row in self.siblings(level, parent_code, subdistrict,
                                                                   near=area).items()}
            for target in self.targets.values():
                if (target.level, target.parent_code, target.subdistrict_code) == (level, parent_code, subdistrict):
                    family[target.code] = target.geom
                if target.row is not None and (target.retired or target.code != target.row.code):
                    family.pop(target.row.code, None)
                    if target.retired:
                        family.pop(target.code, None)
            near = shapely.box(*area.buffer(shapes.degrees_for(5, area.centroid.y)).bounds)
            pockets = shapes.polygonal(shapely.difference(shapely.intersection(parent, near),
                                                          shapely.union_all(list(family.values()))))
            for piece in shapely.get_parts(pockets):
                if not shapes.is_thin(piece, DUST_M):
                    continue
                touching = [t for t in changed if piece.distance(t.geom) < 1e-9]
                if touching:
                    best = max(touching, key=lambda t: shapely.intersection(piece.boundary, t.geom.boundary).length)
                    best.geom = shapes.as_multi(shapes.on_grid(shapely.union(best.geom, piece)))

    def finish(self, *, allow_noop: bool = False) -> EditReport:
        """Validate, write every target, refresh membership and return the report."""
        self.refuse_if_problems()
        self._tidy()
        if not self.targets:
            if not allow_noop:
                raise InvalidInput("此操作不改变任何网格 / the change leaves every grid as it is", where="geometry")
            return {"operation": self.operation, "dry_run": self.request.dry_run, "mode": self.request.mode,
                    "reason": self.request.reason, "grids": [], "adjustments": self.adjustments,
                    "warnings": self.warnings, "released_team": [], "impact": None}
        subdistrict = next(iter(self.targets.values())).subdistrict_code
        families, ids, changed = self._scope()
        area = None
        if not changed.is_empty:
            pad = shapes.degrees_for(0.5, changed.centroid.y)
            x0, y0, x1, y1 = changed.bounds
            area = f"SRID=4326;{shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad).wkt}"
        before = impact.snapshot(self.session, grid_ids=ids, families=families, area_ewkt=area,
                                 subdistrict=subdistrict)
        released = self._write()
        moved = membership.moves(self.session, area) if area else {t: {} for t in membership.POINT_TABLES}
        after = impact.snapshot(self.session, grid_ids=ids | set(self._new_ids.values()),
                                families=families | {t.code for t in self.targets.values()},
                                area_ewkt=area, subdistrict=subdistrict)
        report = impact.compare(self.session, before, after, moved)
        created_gaps = [d for d in report["defects"]["created"] if d["type"] == "blind_spot"]
        if created_gaps:
            total = sum(d["area_m2"] for d in created_gaps)
            self.warnings.append(f"此修改产生 {len(created_gaps)} 处盲区共 {total:.1f} m² / the change leaves "
                                 f"{len(created_gaps)} blind spot(s), {total:.1f} m² in all")
        return {
            "operation": self.operation,
            "dry_run": self.request.dry_run,
            "mode": self.request.mode,
            "reason": self.request.reason,
            "grids": self._grids_report(),
            "adjustments": self.adjustments,
            "warnings": self.warnings,
            "released_team": released,
            "impact": report,
        }

    _new_ids: dict[str, int]

    def _write(self) -> list[ReleasedMember]:
        set_change_context(self.session, actor=self.request.actor, reason=self.request.reason,
                           operation=self.operation)
        self._new_ids = {}
        recoding = any(t.row and t.code != t.row.code for t in self.targets.values())
        if recoding:
            self.session.execute(text("SET CONSTRAINTS grids_parent_code_fkey DEFERRED"))
        released = []
        for target in sorted(self.targets.values(), key=lambda t: (t.level, t.code)):
            wkb = shapely.to_wkb(shapes.as_multi(target.geom))
            row = target.row
            if row is None:
                self._new_ids[target.code] = self.session.execute(text(
                    "INSERT INTO grids (subdistrict_code, level, code, parent_code, serial, name, geom, version) "
                    "VALUES (:sd, :level, :code, :parent, :serial, :name, ST_Multi(ST_GeomFromWKB(:wkb, 4326)), 1) "
                    "RETURNING id"),
                    {"sd": target.subdistrict_code, "level": target.level, "code": target.code,
                     "parent": target.parent_code, "serial": target.serial, "name": target.name,
                     "wkb": wkb}).scalar_one()
                continue
            unchanged = (target.code == row.code and target.name == row.name and target.retired == row.retired
                         and target.geom.equals_exact(row.geom, 0))
            if unchanged:
                continue
            self.session.execute(text(
                "UPDATE grids SET code = :code, parent_code = :parent, serial = :serial, name = :name, "
                "geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326)), version = version + 1, updated_at = now(), "
                "retired_at = CASE WHEN :retired THEN coalesce(retired_at, now()) END WHERE id = :id"),
                {"code": target.code, "parent": target.parent_code, "serial": target.serial,
                 "name": target.name, "wkb": wkb, "retired": target.retired, "id": row.id})
            if target.retired and not row.retired:
                released += [{**r._mapping, "grid": row.code} for r in self.session.execute(text(
                    "UPDATE all_grid_assignments a SET ended_on = current_date, end_reason = 'released' "
                    "FROM staff s WHERE a.grid_id = :id AND a.ended_on IS NULL AND s.id = a.staff_id "
                    "RETURNING s.id AS staff_id, s.name, a.role"), {"id": row.id})]
        if recoding:
            # the parent keys were deferred while whole subtrees were re-coded: check them now, so
            # a dry run fails exactly where the real call would
            self.session.execute(text("SET CONSTRAINTS grids_parent_code_fkey IMMEDIATE"))
        return released

    def _grids_report(self) -> list[GridChange]:
        versions = dict(self.session.execute(
            text("SELECT code, version FROM grids WHERE code = ANY(:codes)"),
            {"codes": [t.code for t in self.targets.values()]}).all())
        out = []
        for target in sorted(self.targets.values(), key=lambda t: (t.level, t.code)):
            if not target.actions:
                continue  # looked at, not changed
            row = target.row
            out.append({
                "code": target.code,
                "previous_code": row.code if row and row.code != target.code else None,
                "name": target.name, "level": target.level, "parent_code": target.parent_code,
                "actions": target.actions,
                "version_before": row.version if row else None,
                "version_after": versions.get(target.code),
                "area_m2_before": round(shapes.area_m2(row.geom), 1) if row else None,
                "area_m2_after": None if target.retired else round(shapes.area_m2(target.geom), 1),
                "geometry": None if target.retired else json.loads(shapely.to_geojson(target.geom)),
            })
        return out
