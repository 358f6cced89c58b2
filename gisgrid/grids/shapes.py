"""Shapes drawn by users: parsed, converted to WGS84 and checked before any grid sees them.

Each way a drawn shape can be wrong has its own message naming the place: not GeoJSON, a
geometry of the wrong type, a position that is not two numbers, NaN or infinity, a ring with
too few points or left open, more vertices than the cap, coordinates out of range or
apparently swapped, self-intersections and other invalid rings (GEOS's reason, with the
point), an empty shape. Rings may come clockwise; what is stored is counter-clockwise on the
1e-7° storage grid, so shared borders stay exactly shared.

Metric quantities (areas, snapping distances) use the ellipsoid or a local azimuthal projection,
never raw degrees.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry.base import BaseGeometry

from gisgrid.core import crs as crs_mod
from gisgrid.core.coordinates import coordinate_problem, invalidity
from gisgrid.core.errors import InvalidInput
from gisgrid.core.settings import get_settings

GRID = 1e-7  # degrees, the storage precision (about 1 cm)
_GEOD = Geod(ellps="WGS84")


def area_m2(geom: BaseGeometry | None) -> float:
    """Area on the WGS84 ellipsoid, m²."""
    if geom is None or geom.is_empty:
        return 0.0
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


def on_grid(geom: BaseGeometry) -> BaseGeometry:
    """Snap to the storage grid, keeping polygons valid, exteriors counter-clockwise."""
    return shapely.orient_polygons(shapely.set_precision(geom, GRID))


def polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """The polygon parts of an overlay result (lines and points from touching borders dropped)."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.MultiPolygon()


def as_multi(geom: BaseGeometry) -> shapely.MultiPolygon:
    geom = polygonal(geom)
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def difference(a, b):
    return polygonal(shapely.difference(a, b, grid_size=GRID))


def intersection(a, b):
    return polygonal(shapely.intersection(a, b, grid_size=GRID))


def union(*geoms):
    present = [g for g in geoms if g is not None and not g.is_empty]
    if not present:
        return shapely.MultiPolygon()
    return polygonal(shapely.union_all(present, grid_size=GRID))


@lru_cache(maxsize=64)
def _local(lon: float, lat: float) -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m",
                                always_xy=True)


def to_metres(geom: BaseGeometry, origin: tuple[float, float]) -> BaseGeometry:
    """Into an azimuthal equidistant frame centred within ~30 km of ``origin``: one transformer
    per half degree (setting one up costs milliseconds), a scale error there under 1e-5."""
    forward = _local(round(origin[0] * 2) / 2, round(origin[1] * 2) / 2)
    return shapely.transform(geom, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))


def is_thin(geom: BaseGeometry, width_m: float) -> bool:
    """Whether a piece is nowhere wider than ``width_m``: a sliver, not a real area."""
    centre = geom.centroid
    metric = to_metres(geom, (centre.x, centre.y))
    return metric.buffer(-width_m / 2).is_empty


def shared_border_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (m) of the border two shapes share: 0 when they only meet at a point or not at all."""
    shared = shapely.intersection(a.boundary, b.boundary, grid_size=GRID)
    if shared.is_empty:
        return 0.0
    centre = shared.centroid
    return to_metres(shared, (centre.x, centre.y)).length


def degrees_for(metres: float, lat: float) -> float:
    """A distance in degrees that is at least ``metres`` in every direction at ``lat``."""
    return metres / (111_320.0 * max(math.cos(math.radians(lat)), 0.1))


# --- parsing ---------------------------------------------------------------------------------

def _positions(coords, where: str, depth: int) -> None:
    """Check nesting and that every position is two or three finite numbers."""
    if depth == 0:
        if not isinstance(coords, list | tuple) or len(coords) not in (2, 3):
            raise InvalidInput(f"{where} 应为 [经度, 纬度] / {where} must be a position [lon, lat], "
                               f"got {str(coords)[:60]}", where=where)
        for axis, value in zip(("lon", "lat", "z"), coords, strict=False):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"{where} 的{axis}不是数字 / {where}: {axis} is not a number: "
                                   f"{value!r}", where=where)
            if isinstance(value, int) and abs(value) > 1e12:
                raise InvalidInput(f"{where} 的坐标超出范围 / {where}: {axis} {str(value)[:20]}… is far out of "
                                   "range", where=where)
            if not math.isfinite(value):
                raise InvalidInput(f"{where} 的坐标不是有限数 / {where}: {axis} is {value} "
                                   "(NaN or infinity)", where=where)
        return
    if not isinstance(coords, list | tuple):
        raise InvalidInput(f"{where} 应为数组 / {where} must be an array", where=where)
    for i, item in enumerate(coords):
        _positions(item, f"{where}[{i}]", depth - 1)


def _xy(coords, depth: int):
    """The same nesting with every position cut to (lon, lat): a z value is dropped."""
    if depth == 0:
        return [float(coords[0]), float(coords[1])]
    return [_xy(item, depth - 1) for item in coords]


def _rings(polygon, where: str) -> None:
    if not polygon:
        raise InvalidInput(f"{where} 没有环 / {where} has no rings: the polygon is empty", where=where)
    for r, ring in enumerate(polygon):
        name = f"{where}[{r}]"
        if len(ring) < 4:
            raise InvalidInput(
                f"{name} 只有 {len(ring)} 个点，环至少需要 4 个（3 个顶点加闭合点）/ {name} has "
                f"{len(ring)} positions: a ring needs at least 4 (three corners and the closing point)",
                where=name)
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise InvalidInput(
                f"{name} 未闭合：首点 {ring[0][:2]} ≠ 末点 {ring[-1][:2]} / {name} is not closed: the "
                f"first position {ring[0][:2]} differs from the last {ring[-1][:2]}", where=name)
        if len({tuple(p[:2]) for p in ring}) < 3:
            raise InvalidInput(f"{name} 少于 3 个不同顶点 / {name} has fewer than 3 distinct corners",
                               where=name)


def _geometry_object(value, where: str) -> dict:
    if isinstance(value, dict) and value.get("type") == "Feature":
        value, where = value.get("geometry"), f"{where}.geometry"
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidInput(f"{where} 不是 GeoJSON 几何 / {where} is not a GeoJSON geometry "
                           "(an object with 'type' and 'coordinates')", where=where)
    if "coordinates" not in value:
        raise InvalidInput(f"{where} 缺少 coordinates / {where} has no 'coordinates'", where=where)
    return value


def _convert(geom: BaseGeometry, crs: str | None, where: str) -> BaseGeometry:
    name = crs_mod.canonical(crs) if crs else crs_mod.WGS84
    sx, sy = shapely.bounds(geom)[:2]
    with np.errstate(all="ignore"):
        wgs = crs_mod.geometry_to_wgs84(geom, name)
    problem = coordinate_problem(*shapely.bounds(wgs), sx, sy, name)
    if problem:
        raise InvalidInput(problem.replace("--crs", "crs"), where=where)
    return wgs


def _valid(geom: BaseGeometry, crs: str | None, where: str) -> None:
    """A shape as given must be valid; its problem point is named in the input's CRS."""
    if geom.is_empty:
        raise InvalidInput(f"{where} 为空 / {where} is empty", where=where)
    name = crs_mod.canonical(crs) if crs else crs_mod.WGS84
    to_wgs84 = None if crs_mod.is_lonlat(name) else (lambda x, y: crs_mod.to_wgs84(x, y, name))
    problem = invalidity(geom, name, to_wgs84)
    if problem:
        raise InvalidInput(f"{where} 几何无效：{problem[0]} / {where} is not a valid polygon: {problem[1]}",
                           where=where)


def _vertex_cap(vertices: int, where: str) -> None:
    cap = get_settings().max_grid_vertices
    if vertices > cap:
        raise InvalidInput(f"{where} 顶点过多：{vertices} > {cap} / {where} has {vertices} vertices, more than the "
                           f"cap of {cap} (GISGRID_MAX_GRID_VERTICES): simplify it", where=where)


def _checked(value, crs: str | None, where: str) -> tuple[BaseGeometry, shapely.MultiPolygon]:
    """A GeoJSON Polygon or MultiPolygon (or a Feature holding one), checked: as given, and
    converted to WGS84 vertex by vertex on the storage grid."""
    value = _geometry_object(value, where)
    kind, coords = value["type"], value["coordinates"]
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"{where} 应为 Polygon 或 MultiPolygon，收到 {kind} / {where} must be a "
                           f"Polygon or MultiPolygon, got {kind}", where=where)
    where_c = f"{where}.coordinates"
    _positions(coords, where_c, 2 if kind == "Polygon" else 3)
    polygons = [coords] if kind == "Polygon" else coords
    if not polygons:
        raise InvalidInput(f"{where} 为空 / {where} is empty", where=where)
    _vertex_cap(sum(len(ring) for polygon in polygons for ring in polygon), where)
    for p, polygon in enumerate(polygons):
        _rings(polygon, where_c if kind == "Polygon" else f"{where_c}[{p}]")
    geom = shapely.geometry.shape({"type": kind, "coordinates": _xy(coords, 2 if kind == "Polygon" else 3)})
    wgs = _convert(geom, crs, where)
    _valid(geom, crs, where)
    stored = as_multi(on_grid(wgs))
    if stored.is_empty:
        raise InvalidInput(f"{where} 过小，在 1 厘米精度下消失 / {where} is too small: it vanishes at the storage "
                           "precision of about 1 cm", where=where)
    return geom, stored


def parse_area(value, crs: str | None = None, where: str = "geometry") -> shapely.MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon (or a Feature holding one) → a valid WGS84 MultiPolygon."""
    return _checked(value, crs, where)[1]


def read_area(value, crs: str | None = None, where: str = "geometry") -> BaseGeometry:
    """The same checks as :func:`parse_area`, the shape kept in ``crs``: one of a layer that
    :func:`convert_layer` converts as a whole."""
    return _checked(value, crs, where)[0]


SHARED_M = 0.02  # a vertex this close to another shape's border is on it (two storage steps)


def convert_layer(sources: list[BaseGeometry], crs: str | None,
                  references: list[BaseGeometry] = ()) -> list[shapely.MultiPolygon]:
    """Shapes of one layer in ``crs`` → WGS84 MultiPolygons, shared borders still shared.

    Every conversion but to lon/lat bends straight edges (GCJ-02 by up to 0.8 m over 2 km, a
    projected CRS by centimetres), so converting vertex by vertex tears a partition apart where
    a vertex of one shape lies on another's edge: a parent's long edge lands on one chord, its
    child's edge with a vertex on it on two. So, in the input's CRS, a vertex lying on another
    shape's border is first put into that border too (equal vertices then land on equal points),
    and a vertex lying on the border of a stored WGS84 ``reference`` (the parent the layer must
    fit) lands on the stored edge, at the same fraction of it. Vertices are converted as they are
    everywhere else (map pages show stored shapes in GCJ-02 vertex by vertex, and files converted
    vertex by vertex come back exactly); edges stay straight between them.
    """
    if crs is None or crs_mod.is_lonlat(crs):
        return [as_multi(on_grid(g)) for g in sources]
    name = crs_mod.canonical(crs)
    tolerance = SHARED_M / crs_mod.unit_m(name)
    seen = [crs_mod.geometry_from_wgs84(r, name) for r in references]  # the references in ``crs``
    shapes_tree = shapely.STRtree([*sources, *seen])
    if references:
        stored_edges = np.concatenate([_edges(r) for r in references])
        edges_tree = shapely.STRtree(shapely.linestrings(np.concatenate([_edges(r) for r in seen])))

    def snapped(layer: list[BaseGeometry], i: int, earlier_only: bool) -> BaseGeometry:
        near = [layer[j] if j < len(layer) else seen[j - len(layer)]
                for j in shapes_tree.query(sources[i], predicate="dwithin", distance=tolerance).tolist()
                if j != i and (j >= len(layer) or not earlier_only or j < i)]
        if not near:
            return layer[i]
        return shapely.snap(layer[i], shapely.multipoints(shapely.get_coordinates(near)), tolerance)

    def converted(xy: np.ndarray) -> np.ndarray:
        wgs = np.column_stack(crs_mod.to_wgs84(xy[:, 0], xy[:, 1], name))
        if references:
            points = shapely.points(xy)
            on, edge = edges_tree.query_nearest(points, max_distance=tolerance, all_matches=False)
            along = shapely.line_locate_point(edges_tree.geometries[edge], points[on], normalized=True)
            wgs[on] = stored_edges[edge, 0] + along[:, None] * (stored_edges[edge, 1] - stored_edges[edge, 0])
        return wgs

    # first each shape's vertices onto those of the shapes before it, so that near-equal vertices
    # become one; then every shape takes the vertices of all the others lying on its border
    layer = list(sources)
    for i in range(len(layer)):
        layer[i] = snapped(layer, i, earlier_only=True)
    noded = [snapped(layer, i, earlier_only=False) for i in range(len(layer))]
    return [as_multi(on_grid(polygonal(shapely.make_valid(shapely.transform(g, converted))))) for g in noded]


def _edges(geom: BaseGeometry) -> np.ndarray:
    """The edges of a polygonal shape's rings, as an (n, 2, 2) array of their ends."""
    rings = shapely.get_rings(shapely.get_parts(geom))
    return np.concatenate([np.stack([xy[:-1], xy[1:]], axis=1)
                           for xy in (shapely.get_coordinates(r) for r in rings)])


def parse_line(value, crs: str | None = None, where: str = "line") -> BaseGeometry:
    """A GeoJSON LineString or MultiLineString (a cut line) → WGS84."""
    value = _geometry_object(value, where)
    kind, coords = value["type"], value["coordinates"]
    if kind not in ("LineString", "MultiLineString"):
        raise InvalidInput(f"{where} 应为 LineString，收到 {kind} / {where} must be a LineString, "
                           f"got {kind}", where=where)
    where_c = f"{where}.coordinates"
    _positions(coords, where_c, 1 if kind == "LineString" else 2)
    lines = [coords] if kind == "LineString" else coords
    _vertex_cap(sum(len(line) for line in lines), where)
    for i, line in enumerate(lines):
        if len({tuple(p[:2]) for p in line}) < 2:
            raise InvalidInput(f"{where} 至少需要 2 个不同的点 / {where} needs at least 2 distinct "
                               "positions", where=where if kind == "LineString" else f"{where_c}[{i}]")
    geom = shapely.geometry.shape({"type": kind, "coordinates": _xy(coords, 1 if kind == "LineString" else 2)})
    return _convert(geom, crs, where)
