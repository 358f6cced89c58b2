"""A street file a user brings (an OSM extract, a Shapefile, a GeoJSON or GeoPackage of lines),
read as WGS84 lines with each line's rank: hard barriers (trunk roads, rivers, railways) and
minor streets.

The rank is read from the first of the columns ``rank``, ``等级``, ``class``, ``fclass``,
``highway``, ``waterway``, ``railway`` that the file has (OSM extracts carry ``highway`` /
``waterway`` / ``railway``, Geofabrik's ``fclass``). A line is a hard barrier when its rank is one
of ``HARD`` (``hard``, ``1``, motorway, trunk, primary, rail, river, canal, 快速路, 主干道, 铁路,
河流…); every other line is a minor street, and a file without any of those columns is all minor
streets.
"""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from gisgrid.core import crs as crs_mod
from gisgrid.core.errors import InvalidInput

RANK_COLUMNS = ("rank", "等级", "class", "fclass", "highway", "waterway", "railway")
HARD = frozenset({
    "hard", "barrier", "1", "motorway", "motorway_link", "trunk", "trunk_link", "primary", "rail", "railway",
    "light_rail", "subway", "river", "canal", "riverbank", "water", "快速路", "高速", "高速公路", "主干道", "主干路",
    "铁路", "轨道", "河流", "河道", "运河", "水系",
})
FORMATS = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".osm", ".pbf")


def read_streets(path: str | Path, crs: str | None = None) -> tuple[list[BaseGeometry], list[bool]]:
    """The file's lines in WGS84 and whether each is a hard barrier; polygons (a river drawn as
    an area) count by their outline."""
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"街巷文件不存在 / no such street file: {path.name}", where="streets")
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"不支持的街巷文件格式 {path.suffix} / unsupported street file {path.suffix}: use GeoJSON, "
                           "GeoPackage, Shapefile or an OSM extract", where="streets")
    layer = "lines" if path.suffix.lower() in (".osm", ".pbf") else None
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio/GDAL errors carry the reason
        raise InvalidInput(f"无法读取街巷文件 / cannot read {path.name}: {str(exc)[:300]}", where="streets") from None
    frame = frame[frame.geometry.notna()]
    if crs is None and frame.crs is not None and frame.crs.to_epsg() not in (4326, 4490):
        frame = frame.to_crs(4326)
    columns = {c.lower(): c for c in frame.columns if c != "geometry"}
    rank = next((columns[c] for c in RANK_COLUMNS if c in columns), None)
    lines, hard = [], []
    for row_geom, value in zip(frame.geometry, frame[rank] if rank else [None] * len(frame), strict=True):
        geom = row_geom.boundary if row_geom.geom_type in ("Polygon", "MultiPolygon") else row_geom
        if geom.is_empty or geom.geom_type not in ("LineString", "MultiLineString"):
            continue
        if crs is not None:
            geom = crs_mod.geometry_to_wgs84(geom, crs_mod.canonical(crs))
        lines.append(geom)
        hard.append(str(value).strip().lower() in HARD if value is not None else False)
    if not lines:
        raise InvalidInput(f"{path.name} 中没有线要素 / {path.name} holds no lines", where="streets")
    return lines, hard


def clipped(lines: list[BaseGeometry], hard: list[bool], area: BaseGeometry) -> tuple[list[BaseGeometry], list[bool]]:
    """The lines that cross ``area`` (a little grown, so streets on its border count)."""
    near = shapely.buffer(area, 1e-4)
    keep = [i for i, line in enumerate(lines) if shapely.intersects(line, near)]
    return [lines[i] for i in keep], [hard[i] for i in keep]
