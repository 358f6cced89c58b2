"""Where each row is: its CRS resolved, its geometry converted to WGS84 and checked.

CRS rules
    ``--crs`` (WGS84, CGCS2000, GCJ-02, BD-09, EPSG:xxxx) names the coordinates' system. A spatial
    file's own CRS is used when it declares one and ``--crs`` is not given. A declared CRS that
    contradicts ``--crs`` is an error, except that GCJ-02 / BD-09 (which no file format can
    declare) may be given for a file that declares plain WGS84 / CGCS2000 lon/lat. Without
    either, only GeoJSON is taken as WGS84 (RFC 7946); CSV / Excel always need ``--crs``.

Refusals per row
    missing / unreadable / empty geometry, more than 10,000 vertices, coordinates that are not finite, outside lon/lat
    range (with a hint at projected coordinates), lon/lat apparently swapped, a lost minus sign
    (China lies east and north), an invalid ring (shapely's ``is_valid_reason``, its point named in
    the input's CRS with the WGS84 beside it), a geometry type
    the kind cannot hold, and — for buildings — a footprint of several separate parts.

Buildings keep their footprint; a MultiPolygon of one part is stored as that Polygon. A
MultiPolygon of several parts is refused (two separate outlines are two buildings, or a
drawing error; taking the largest part would silently lose the rest). The building's point is
derived in PostGIS as ``ST_PointOnSurface(footprint)``. Units and shops are points; a polygon
given for them is reduced to its point on surface (counted in the warnings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gisgrid.core import crs as crs_mod
from gisgrid.core.coordinates import coordinate_problem, invalidity, place
from gisgrid.core.errors import InvalidInput
from gisgrid.imports.fields import Kind
from gisgrid.imports.reading import Table

MAX_VERTICES = 10_000  # a building outline or a point never needs more


@dataclass
class Problem:
    code: str
    reason: str
    field: str


@dataclass
class Located:
    points: np.ndarray          # shapely Point (WGS84) or None; None with a footprint = derive it
    footprints: np.ndarray      # shapely Polygon (WGS84) or None
    problems: dict[int, Problem]
    crs_label: str | None
    from_wgs84: Callable | None = None  # WGS84 lon, lat → the file's CRS; None: the file is lon/lat
    warnings: list[str] = field(default_factory=list)

    def place(self, lon: float, lat: float) -> str:
        """A WGS84 point named as the file has it, the WGS84 beside it: what a refusal shows."""
        if self.from_wgs84 is None:
            return place((lon, lat), self.crs_label)
        x, y = self.from_wgs84(lon, lat)
        return place((float(x), float(y)), self.crs_label, (lon, lat))


# --- CRS -------------------------------------------------------------------------------------

def _declared_name(declared: str) -> tuple[str | None, CRS]:
    """A declared CRS → (canonical gisgrid name or None when it has no EPSG code, the CRS)."""
    try:
        crs = CRS.from_user_input(declared)
    except CRSError:
        raise InvalidInput(f"文件声明的坐标系无法识别 / the file declares a CRS pyproj cannot read: {declared[:200]}",
                           where="crs") from None
    if crs.is_geographic and crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return crs_mod.WGS84, crs
    epsg = crs.to_epsg()
    if epsg is None:
        return None, crs
    return crs_mod.canonical(f"EPSG:{epsg}"), crs


def resolve_crs(table: Table, given: str | None) -> tuple[str, Callable, Callable | None]:
    """The CRS the file's coordinates are in, as (label, geometry-array → WGS84 function, WGS84
    lon, lat → the CRS or None when it is lon/lat already)."""
    lonlat = (crs_mod.WGS84, crs_mod.CGCS2000)
    name = crs_mod.canonical(given) if given else None
    declared, declared_crs = (None, None)
    if table.spatial and table.declared_crs:
        declared, declared_crs = _declared_name(table.declared_crs)
    if name is not None and declared_crs is not None:
        shown = declared or declared_crs.name
        if name in (crs_mod.GCJ02, crs_mod.BD09):
            if declared not in lonlat:
                raise InvalidInput(
                    f"文件声明坐标系 {shown}，与 --crs {name} 矛盾 / the file declares {shown}, "
                    f"but {name} coordinates are lon/lat: check --crs", where="crs")
        elif not (name == declared or (name in lonlat and declared in lonlat)):
            raise InvalidInput(
                f"文件声明坐标系 {shown}，与 --crs {name} 矛盾 / the file declares {shown}, "
                f"which contradicts --crs {name}: drop --crs or fix the file", where="crs")
    name = name or declared
    if name is not None:
        back = None if name in lonlat else (lambda lon, lat: crs_mod.from_wgs84(lon, lat, name))
        return name, lambda geoms: crs_mod.geometry_to_wgs84(geoms, name), back
    if declared_crs is not None:
        transformer = Transformer.from_crs(declared_crs, "EPSG:4326", always_xy=True)

        def convert(geoms):
            return shapely.transform(
                geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

        return declared_crs.name, convert, Transformer.from_crs("EPSG:4326", declared_crs, always_xy=True).transform
    if table.format == "GeoJSON":
        return crs_mod.WGS84, lambda geoms: geoms, None
    what = "文件未声明坐标系" if table.spatial else "表格坐标需注明坐标系"
    raise InvalidInput(
        f"{what}，请用 --crs 指定（WGS84、CGCS2000、GCJ-02、BD-09 或 EPSG:xxxx）/ "
        f"{table.path.name} does not say which CRS its coordinates are in: give --crs "
        f"(WGS84, CGCS2000, GCJ-02 for AMap/Tencent, BD-09 for Baidu, or EPSG:xxxx)", where="crs")


# --- geometry --------------------------------------------------------------------------------

def _number(text: str | None) -> float | None | str:
    if text is None:
        return None
    try:
        return float(text.strip().replace("，", ".").replace("°", ""))
    except ValueError:
        return "bad"


def _raw_geometries(table: Table, columns: dict[str, str]) -> tuple[np.ndarray, dict[int, Problem], str]:
    """Geometries as read (source CRS), problems found while reading them, the field name."""
    problems: dict[int, Problem] = {}
    n = table.rows
    if table.spatial or "wkt" in columns:
        if table.spatial:
            raw = np.asarray(table.wkb, dtype=object)
            geoms = shapely.from_wkb(raw, on_invalid="ignore")
            decode, field_name = shapely.from_wkb, "geometry"
        else:
            raw = np.asarray(table.cells[columns["wkt"]], dtype=object)
            geoms = shapely.from_wkt(raw, on_invalid="ignore")
            decode, field_name = shapely.from_wkt, columns["wkt"]
        given = np.array([v is not None for v in raw], dtype=bool)
        for i in np.flatnonzero(shapely.is_missing(geoms) & given):
            try:
                decode(raw[i])
                detail = "unreadable"
            except Exception as exc:  # GEOSException and friends carry the reader's message
                detail = str(exc)
            problems[int(i)] = Problem("bad_geometry", f"几何无法解析 / geometry cannot be read: {detail}", field_name)
        return geoms, problems, field_name
    lon_col, lat_col = columns["lon"], columns["lat"]
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    for i, (x_text, y_text) in enumerate(zip(table.cells[lon_col], table.cells[lat_col], strict=True)):
        x, y = _number(x_text), _number(y_text)
        if x is None or y is None:
            empty = "、".join(c for c, v in ((lon_col, x), (lat_col, y)) if v is None)
            problems[i] = Problem("bad_geometry", f"缺少坐标（{empty} 为空）/ missing coordinates ({empty} empty)",
                                  f"{lon_col}/{lat_col}")
        elif x == "bad" or y == "bad":
            bad = ", ".join(f"{c}={t!r}" for c, v, t in ((lon_col, x, x_text), (lat_col, y, y_text)) if v == "bad")
            problems[i] = Problem("bad_geometry", f"坐标不是数字 / coordinates are not numbers: {bad}",
                                  f"{lon_col}/{lat_col}")
        else:
            lon[i], lat[i], ok[i] = x, y, True
    geoms = np.full(n, None, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    return geoms, problems, f"{lon_col}/{lat_col}"


def locate(table: Table, kind: Kind, given_crs: str | None, columns: dict[str, str]) -> Located:
    """Every row's WGS84 point and footprint, or the reason it has none."""
    n = table.rows
    crs_label, convert, from_wgs84 = resolve_crs(table, given_crs)
    source, problems, where = _raw_geometries(table, columns)
    present = ~shapely.is_missing(source)
    for i in np.flatnonzero(~present):
        problems.setdefault(int(i), Problem("bad_geometry", "缺少几何 / missing geometry", where))
    source = np.where(present, shapely.force_2d(source), None)
    nonempty = present & ~shapely.is_empty(np.where(present, source, shapely.Point()))
    for i in np.flatnonzero(present & ~nonempty):
        problems.setdefault(int(i), Problem("bad_geometry", "几何为空 / empty geometry", where))

    wgs = np.full(n, None, dtype=object)
    with np.errstate(all="ignore"):
        wgs[nonempty] = convert(source[nonempty])
    warnings: list[str] = []
    points = np.full(n, None, dtype=object)
    footprints = np.full(n, None, dtype=object)
    bounds = np.full((n, 4), np.nan)
    bounds[nonempty] = shapely.bounds(wgs[nonempty])
    src_bounds = np.full((n, 4), np.nan)
    src_bounds[nonempty] = shapely.bounds(source[nonempty])
    type_ids = np.full(n, -1)
    type_ids[nonempty] = shapely.get_type_id(wgs[nonempty])
    reduced = 0
    if from_wgs84 is None:
        to_wgs84 = None
    else:
        def to_wgs84(x, y):
            return shapely.get_coordinates(convert(np.array([shapely.Point(x, y)])))[0]
    for i in np.flatnonzero(nonempty):
        if i in problems:
            continue
        geom = wgs[i]
        minx, miny, maxx, maxy = bounds[i]
        sx, sy = src_bounds[i][0], src_bounds[i][1]
        vertices = shapely.get_num_coordinates(geom)
        if vertices > MAX_VERTICES:
            problems[int(i)] = Problem("bad_geometry", f"顶点过多（{vertices}）/ too many vertices: {vertices} "
                                       f"> {MAX_VERTICES}", where)
            continue
        problem = coordinate_problem(minx, miny, maxx, maxy, sx, sy, crs_label)
        if problem:
            problems[int(i)] = Problem("bad_geometry", problem, where)
            continue
        type_id = type_ids[i]
        # a ring is checked as given, so that its problem point is where the user's map shows it
        invalid = invalidity(source[i], crs_label, to_wgs84)
        if kind is Kind.BUILDINGS:
            if type_id == shapely.GeometryType.MULTIPOLYGON:
                parts = shapely.get_num_geometries(geom)
                if parts != 1:
                    problems[int(i)] = Problem(
                        "bad_geometry",
                        f"轮廓由 {parts} 个分离部分组成，请拆成多栋楼或合并 / the footprint has {parts} separate "
                        f"parts: split it into buildings or merge the parts", where)
                    continue
                geom = shapely.get_geometry(geom, 0)
                type_id = shapely.GeometryType.POLYGON
            if type_id == shapely.GeometryType.POLYGON:
                if invalid:
                    problems[int(i)] = Problem("bad_geometry", f"轮廓无效：{invalid[0]} / invalid footprint: "
                                               f"{invalid[1]}", where)
                    continue
                footprints[i] = geom
                continue
        if type_id == shapely.GeometryType.MULTIPOINT and shapely.get_num_geometries(geom) == 1:
            geom = shapely.get_geometry(geom, 0)
            type_id = shapely.GeometryType.POINT
        if type_id == shapely.GeometryType.POINT:
            points[i] = geom
            continue
        if kind is not Kind.BUILDINGS and type_id in (shapely.GeometryType.POLYGON,
                                                      shapely.GeometryType.MULTIPOLYGON):
            if invalid:
                problems[int(i)] = Problem("bad_geometry", f"多边形无效：{invalid[0]} / invalid polygon: "
                                           f"{invalid[1]}", where)
                continue
            points[i] = shapely.point_on_surface(geom)
            reduced += 1
            continue
        wanted = "点或面 / Point or Polygon" if kind is Kind.BUILDINGS else "点 / Point"
        problems[int(i)] = Problem(
            "bad_geometry", f"几何类型 {geom.geom_type} 不可用，需要{wanted} / geometry type "
            f"{geom.geom_type} cannot be stored: {kind.value} need {wanted.split(' / ')[1]}", where)
    if reduced:
        warnings.append(f"{reduced} 行为多边形，取其面内点 / {reduced} rows had polygons: "
                        "their point on surface was used")
    return Located(points=points, footprints=footprints, problems=problems, crs_label=crs_label, from_wgs84=from_wgs84,
                   warnings=warnings)
