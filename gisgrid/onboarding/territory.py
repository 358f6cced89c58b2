"""A sub-district's boundary from the office's own file: created, or replaced as a new version.

The file (GeoJSON, GeoPackage, Shapefile ``.shp`` or zipped, GBK attributes without a ``.cpg``)
is read by the imports' reader, its CRS resolved by their rules (``--crs``, else the file's own,
else WGS84 for GeoJSON only). Each feature must be a valid polygon, checked as given, so a
refusal names the place in the file's CRS with the WGS84 beside it. Several features are
dissolved in the file's CRS (shared borders there vanish exactly) and the one outline is then
converted vertex by vertex onto the 1e-7° storage grid.

Another sub-district may not be overlapped: overlap pieces that are slivers (under the sliver
tolerance, or nowhere wider than :data:`SLIVER_WIDTH_M`, the offset of two offices digitising
one road) are cut off the new boundary and said so; anything more is refused, naming the
neighbour and the area.

A replacement is measured in the database before and after it is written, inside a savepoint:
L1 zones that now spill out (with area), points of the sub-district now outside it, and the L1
blind spot it opens (the coverage analysis's own ``gisgrid_area_defects``). A dry run rolls the
savepoint back, so the preview is the very change a real run keeps.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.core.coordinates import coordinate_problem, invalidity
from gisgrid.core.database import set_change_context
from gisgrid.core.errors import GisgridError, InvalidInput, NotFound
from gisgrid.core.paging import Page, Where, json_page
from gisgrid.core.scope import Scope
from gisgrid.core.settings import get_settings
from gisgrid.grids import shapes
from gisgrid.grids.defects import AREA_DEFECTS_SQL
from gisgrid.grids.models import grid_name
from gisgrid.imports.geometry import resolve_crs
from gisgrid.imports.reading import SPATIAL, read_table

# GB/T 2260 province-level codes (the first two digits of every county code).
PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                       50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82})
MAX_FILE_BYTES = 50 * 1024 * 1024  # a boundary file with its attributes is rarely above 1 MB
MAX_VERTICES = 200_000             # a surveyed outline of a whole 街道, with room to spare
SLIVER_WIDTH_M = 1.0               # an overlap nowhere wider than this is two drawings of one border
EXAMPLES = 10                      # points named in the report per kind; the count says the rest


class TooLarge(GisgridError):
    status = 413
    code = "too_large"


def check_code(code: str) -> str:
    """A sub-district code: 6-digit GB/T 2260 county (province 11–82) + 3-digit 街道 serial, not 000."""
    code = (code or "").strip()
    if not re.fullmatch(r"[0-9]{9}", code):
        raise InvalidInput(f"街道编码应为 9 位数字（6 位区县代码 + 3 位街道序号），收到 {code!r} / a sub-district "
                           f"code is 9 digits (6-digit GB/T 2260 county + 3-digit serial), got {code!r}", where="code")
    if int(code[:2]) not in PROVINCES:
        raise InvalidInput(f"街道编码 {code} 的省级代码 {code[:2]} 不存在（GB/T 2260）/ code {code}: {code[:2]} is "
                           "no GB/T 2260 province code (11–82)", where="code")
    if code[6:] == "000":
        raise InvalidInput(f"街道编码 {code} 的街道序号为 000，应为 001–999 / code {code}: the sub-district serial "
                           "is 000; serials are 001 to 999 (000 is the county itself)", where="code")
    return code


def _text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > limit or "\x00" in value:
        raise InvalidInput(f"{what} 应为 1–{limit} 个字符的文字 / {what} is text of 1 to {limit} characters",
                           where=what)
    return value


# --- the file --------------------------------------------------------------------------------

def _refuse(problems: list[dict]) -> None:
    if problems:
        raise InvalidInput(problems[0]["message"], where="file", problems=problems)


def _feature_problem(problems: list[dict], file: str, n: int, zh: str, en: str) -> None:
    problems.append({"where": f"feature {n}", "message": f"{file} 要素 {n}：{zh} / {file} feature {n}: {en}"})


def read_boundary(path: Path, crs: str | None, layer: str | None) -> dict:
    """The file's polygons checked feature by feature, dissolved and converted: the WGS84
    MultiPolygon, each feature's figures and attributes, the CRS and the reader's warnings."""
    path = Path(path)
    if path.suffix.lower() not in SPATIAL:
        raise InvalidInput(f"{path.name}：边界文件应为 GeoJSON、GeoPackage 或 Shapefile（.shp / .zip）/ {path.name}: a "
                           "boundary file is GeoJSON, GeoPackage or Shapefile (.shp or .zip)", where="file")
    if path.exists() and path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise TooLarge(f"{path.name} 超过 {MAX_FILE_BYTES // 2**20} MB / {path.name} is larger than "
                       f"{MAX_FILE_BYTES // 2**20} MB: a boundary file is rarely above 1 MB", where="file")
    table = read_table(path, layer=layer)
    label, convert, back = resolve_crs(table, crs)

    def to_wgs84(x, y):
        return shapely.get_coordinates(convert(np.array([shapely.Point(x, y)])))[0]

    problems, sources, features = [], [], []
    vertices = 0
    for i, wkb in enumerate(table.wkb):
        n = i + 1
        refuse = partial(_feature_problem, problems, path.name, n)
        geom = None if wkb is None else shapely.from_wkb(wkb, on_invalid="ignore")
        if geom is None or geom.is_empty:
            refuse("没有几何或几何为空", "has no geometry")
            continue
        geom = shapely.force_2d(geom)
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            refuse(f"几何为 {geom.geom_type}，边界应为面（Polygon / MultiPolygon）",
                   f"is a {geom.geom_type}: a boundary is a Polygon or MultiPolygon")
            continue
        vertices += shapely.get_num_coordinates(geom)
        if vertices > MAX_VERTICES:
            raise InvalidInput(f"{path.name} 顶点过多（超过 {MAX_VERTICES}）/ {path.name} has more than {MAX_VERTICES} "
                               "vertices: simplify it", where="file")
        sx, sy = shapely.bounds(geom)[:2]
        with np.errstate(all="ignore"):
            wgs = convert(np.array([geom]))[0]
        problem = coordinate_problem(*shapely.bounds(wgs), sx, sy, label)
        if problem:
            zh, _, en = problem.partition("/ ")  # coordinate_problem's text is "中文 / English"
            refuse(zh.strip(), en)
            continue
        bad = invalidity(geom, label, None if back is None else to_wgs84)
        if bad:
            refuse(f"边界无效：{bad[0]}", f"invalid boundary: {bad[1]}")
            continue
        sources.append(geom)
        features.append({"feature": n, "type": geom.geom_type, "area_m2": round(shapes.area_m2(wgs), 1),
                         "attributes": {c: table.cells[c][i] for c in table.columns if table.cells[c][i] is not None}})
    _refuse(problems)
    dissolved = shapely.union_all(sources) if len(sources) > 1 else sources[0]
    with np.errstate(all="ignore"):
        boundary = shapes.as_multi(shapes.on_grid(convert(np.array([dissolved]))[0]))
    if boundary.is_empty:
        raise InvalidInput(f"{path.name} 的边界过小，在 1 厘米精度下消失 / {path.name}: the boundary vanishes at the "
                           "storage precision of about 1 cm", where="file")
    warnings = list(table.warnings)
    if len(sources) > 1:
        warnings.append(f"{len(sources)} 个要素已合并为一个多面（{len(shapely.get_parts(boundary))} 个部分）/ "
                        f"{len(sources)} features dissolved into one MultiPolygon of "
                        f"{len(shapely.get_parts(boundary))} part(s)")
    return {"boundary": boundary, "features": features, "crs": label, "format": table.format,
            "warnings": warnings}


# --- the database ----------------------------------------------------------------------------

def _overlaps(session: Session, code: str, boundary) -> tuple[shapely.MultiPolygon, list[str]]:
    """The boundary with sliver overlaps of other sub-districts cut off (said in the warnings),
    or the refusal naming each sub-district overlapped by more, with the area."""
    tolerance = get_settings().sliver_tolerance_m2
    rows = session.execute(text("""
        SELECT code, name, ST_AsBinary(boundary) AS wkb FROM subdistricts
        WHERE code <> :code AND ST_Intersects(boundary, ST_GeomFromWKB(:wkb, 4326)) ORDER BY code"""),
        {"code": code, "wkb": boundary.wkb}).all()
    problems, warnings = [], []
    for row in rows:
        other = shapely.from_wkb(row.wkb)
        pieces = shapely.get_parts(shapes.intersection(boundary, other))
        real = sum(shapes.area_m2(p) for p in pieces if shapes.area_m2(p) >= tolerance and not
                   shapes.is_thin(p, SLIVER_WIDTH_M))
        if real > 0:
            problems.append({"where": "file", "message": f"边界与街道 {row.name}（{row.code}）重叠 {real:,.1f} 平方米 / the "
                             f"boundary overlaps sub-district {row.name} ({row.code}) by {real:,.1f} m²"})
        elif len(pieces):
            sliver = sum(shapes.area_m2(p) for p in pieces)
            boundary = shapes.as_multi(shapes.difference(boundary, other))
            warnings.append(f"与 {row.name}（{row.code}）的碎叠 {sliver:,.2f} 平方米已从边界中去除 / a sliver overlap of "
                            f"{sliver:,.2f} m² with {row.name} ({row.code}) was cut off the boundary")
    _refuse(problems)
    return boundary, warnings


OUTSIDE = """
SELECT p.id, p.name, round(ST_X(p.geom)::numeric, 7)::float AS lon, round(ST_Y(p.geom)::numeric, 7)::float AS lat,
       ST_Intersects(p.geom, ST_GeomFromWKB(:old, 4326)) AS was_inside
FROM {table} p
WHERE p.subdistrict_code = :code AND NOT ST_Intersects(p.geom, ST_GeomFromWKB(:new, 4326))
ORDER BY p.id
"""

GRIDS_OUTSIDE = """
SELECT code, name, ST_Area(geom::geography) AS area_m2,
       ST_Area(ST_CollectionExtract(ST_Difference(geom, ST_GeomFromWKB(:new, 4326), 1e-07), 3)::geography) AS outside_m2,
       ST_Area(ST_CollectionExtract(ST_Difference(geom, ST_GeomFromWKB(:old, 4326), 1e-07), 3)::geography)
           AS outside_before_m2,
       NOT ST_Relate(geom, ST_GeomFromWKB(:new, 4326), 'T********') AS wholly
FROM grids WHERE subdistrict_code = :code AND level = 1 AND retired_at IS NULL
  AND NOT ST_CoveredBy(geom, ST_GeomFromWKB(:new, 4326))
ORDER BY code
"""


def _blind_spot(session: Session, code: str):
    """The L1 blind spot of the sub-district as stored now: the coverage analysis's own."""
    pieces = [shapely.from_wkb(r.wkb) for r in session.execute(
        text(AREA_DEFECTS_SQL), {"sd": code, "community": None, "families": [code]})
        if r.type == "blind_spot" and r.level == 1]
    return shapes.union(*pieces)


def _points_outside(session: Session, table: str, code: str, old, new) -> dict:
    rows = session.execute(text(OUTSIDE.format(table=table)), {"code": code, "old": old.wkb, "new": new.wkb}).all()
    return {"count": len(rows), "newly": sum(1 for r in rows if r.was_inside),
            "examples": [{"id": r.id, "name": r.name, "lon": r.lon, "lat": r.lat} for r in rows[:EXAMPLES]]}


def _impact(session: Session, code: str, old, new, blind_before) -> dict:
    """What the new boundary does to the sub-district's coverage (the new one already written)."""
    tolerance = get_settings().sliver_tolerance_m2
    grids = [{"code": r.code, "name": r.name, "area_m2": round(r.area_m2, 1), "outside_m2": round(r.outside_m2, 1),
              "outside_before_m2": round(r.outside_before_m2, 1), "wholly": r.wholly}
             for r in session.execute(text(GRIDS_OUTSIDE), {"code": code, "old": old.wkb, "new": new.wkb})
             if r.outside_m2 >= tolerance]
    buildings = _points_outside(session, "buildings", code, old, new)
    households = session.execute(text("""
        SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE b.subdistrict_code = :code AND NOT ST_Intersects(b.geom, ST_GeomFromWKB(:new, 4326))"""),
        {"code": code, "new": new.wkb}).scalar_one()
    blind_after = _blind_spot(session, code)
    return {
        "area_before_m2": round(shapes.area_m2(old), 1), "area_after_m2": round(shapes.area_m2(new), 1),
        "grids_outside": grids, "buildings_outside": buildings, "households_outside": households,
        "units_outside": _points_outside(session, "stationed_units", code, old, new),
        "shops_outside": _points_outside(session, "shops", code, old, new),
        "uncovered_m2": round(shapes.area_m2(blind_after), 1),
        "newly_uncovered_m2": round(shapes.area_m2(shapes.difference(blind_after, blind_before)), 1),
    }


def import_boundary(session: Session, path: str | Path, *, code: str, name: str, actor: str,
                    crs: str | None = None, layer: str | None = None, county: str | None = None,
                    city: str | None = None, reason: str | None = None, dry_run: bool = False,
                    client_addr: str | None = None) -> dict:
    """Create the sub-district ``code`` from the file, or replace its boundary and name as a new
    version; the report. Written in a savepoint of the caller's transaction, rolled back for a
    dry run (which leaves no audit row either: nothing changed); the caller commits."""
    path = Path(path)
    code = check_code(code)
    name = grid_name(name or "", "name")
    county, city = _text(county, "county", 100), _text(city, "city", 100)
    reason = _text(reason, "reason", 500) or f"导入边界 {path.name}"[:500]
    read = read_boundary(path, crs, layer)
    with session.begin_nested() as savepoint:
        stored = session.execute(text("SELECT name, county, city, version, ST_AsBinary(boundary) AS wkb "
                                      "FROM subdistricts WHERE code = :c FOR UPDATE"), {"c": code}).first()
        boundary, clipped = _overlaps(session, code, read["boundary"])
        report = {"file": path.name, "format": read["format"], "crs": read["crs"], "dry_run": dry_run, "code": code,
                  "name": name, "reason": reason, "features": read["features"],
                  "dissolved": len(read["features"]) > 1, "parts": len(shapely.get_parts(boundary)),
                  "area_m2": round(shapes.area_m2(boundary), 1), "warnings": read["warnings"] + clipped,
                  "impact": None}
        params = {"c": code, "n": name, "wkb": boundary.wkb}
        if stored is None:
            set_change_context(session, actor=actor, reason=reason, operation="import")
            session.execute(text("""
                INSERT INTO subdistricts (code, name, county, city, boundary, version)
                VALUES (:c, :n, :county, :city, ST_GeomFromWKB(:wkb, 4326), 1)"""),
                {**params, "county": county or "", "city": city or ""})
            report |= {"action": "created", "county": county or "", "city": city or "",
                       "version_before": None, "version_after": 1}
        else:
            old = shapes.as_multi(shapely.from_wkb(stored.wkb))
            same = session.execute(text("SELECT boundary IS NOT DISTINCT FROM ST_GeomFromWKB(:wkb, 4326) "
                                        "FROM subdistricts WHERE code = :c"), params).scalar_one()
            changed = not (same and stored.name == name)
            blind_before = _blind_spot(session, code)
            set_change_context(session, actor=actor, reason=reason, operation="replace")
            session.execute(text("""
                UPDATE subdistricts SET name = :n, boundary = ST_GeomFromWKB(:wkb, 4326), county = :county,
                       city = :city, version = version + CAST(:bump AS int) WHERE code = :c"""),
                {**params, "county": county or stored.county, "city": city or stored.city, "bump": int(changed)})
            report |= {"action": "replaced" if changed else "unchanged", "county": county or stored.county,
                       "city": city or stored.city, "version_before": stored.version,
                       "version_after": stored.version + int(changed),
                       "impact": _impact(session, code, old, boundary, blind_before)}
        if dry_run:
            savepoint.rollback()
    if not dry_run:
        record(session, actor=actor, action=f"territory.{report['action']}", outcome="ok", object_type="subdistrict",
               object_id=code, client_addr=client_addr,
               detail={"file": path.name, "crs": read["crs"], "features": len(read["features"]), "reason": reason,
                       "version": report["version_after"], "area_m2": report["area_m2"]})
    report["geometry"] = shapely.geometry.mapping(boundary)
    return report


# --- reading ---------------------------------------------------------------------------------

LIST = """
SELECT s.code, s.name, s.county, s.city, s.version,
       round((ST_Area(s.boundary::geography) / 1e6)::numeric, 3)::float AS area_km2,
       coalesce((SELECT json_object_agg(level, n) FROM (
           SELECT level, count(*) AS n FROM grids WHERE subdistrict_code = s.code AND retired_at IS NULL
           GROUP BY level) per_level), '{{}}'::json) AS grids,
       (SELECT count(*) FROM buildings WHERE subdistrict_code = s.code) AS buildings,
       (SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE b.subdistrict_code = s.code) AS households,
       v.changed_by, v.valid_from AS changed_at, v.reason, v.operation
FROM subdistricts s LEFT JOIN subdistrict_versions v ON v.code = s.code AND v.version = s.version
WHERE {where}
"""


def subdistricts(session: Session, *, scope: Scope, page: Page) -> dict:
    """Every sub-district the caller sees: code, name, version, area, grids per level, buildings,
    households and the last change (who, when, why)."""
    where = Where()
    where.add(*scope.codes("s.code"))
    return json_page(session, rows_sql=LIST.format(where=where.sql) + " ORDER BY s.code",
                     count_sql=f"SELECT count(*) FROM subdistricts s WHERE {where.sql}", params=where.params, page=page)


def history(session: Session, code: str, *, scope: Scope) -> list[dict]:
    """Every version of a sub-district, oldest first; 404 for one the caller does not see."""
    where = Where()
    where.add("v.code = :code", code=code)
    where.add(*scope.codes("v.code"))
    rows = session.execute(text(f"""
        SELECT v.version, v.name, round((ST_Area(v.boundary::geography) / 1e6)::numeric, 3)::float AS area_km2,
               v.valid_from, v.valid_to, v.changed_by, v.reason, v.operation
        FROM subdistrict_versions v WHERE {where.sql} ORDER BY v.version"""), where.params).all()
    if not rows:
        raise NotFound(f"没有编码为 {code} 的街道 / no sub-district with code {code}", where="code")
    return [dict(r._mapping) for r in rows]
