"""Coordinate systems met in China, converted to WGS84 lon/lat on the way in.

WGS84 (EPSG:4326) is storage; CGCS2000 (EPSG:4490) is within centimetres of it and taken as is.
GCJ-02 (AMap, Tencent) and BD-09 (Baidu) are obfuscated systems with no EPSG code: they are
converted with the published forward formulas and a fixed-point inversion (error < 1e-7°,
about 1 cm). Any other EPSG code goes through pyproj.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gisgrid.core.errors import InvalidInput

WGS84 = "WGS84"
CGCS2000 = "CGCS2000"
GCJ02 = "GCJ-02"
BD09 = "BD-09"

ALIASES = {
    "WGS84": WGS84, "WGS-84": WGS84, "EPSG:4326": WGS84, "4326": WGS84, "CRS84": WGS84,
    "CGCS2000": CGCS2000, "EPSG:4490": CGCS2000, "4490": CGCS2000,
    "GCJ02": GCJ02, "GCJ-02": GCJ02, "AMAP": GCJ02, "GAODE": GCJ02, "TENCENT": GCJ02,
    "BD09": BD09, "BD-09": BD09, "BAIDU": BD09,
}

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def canonical(name: str) -> str:
    """'gcj02', 'EPSG:4490', 'epsg:3857' … → a canonical name, or InvalidInput naming the CRS."""
    key = name.strip().upper()
    if key in ALIASES:
        return ALIASES[key]
    if key.startswith("EPSG:") or key.isdigit():
        code = key.removeprefix("EPSG:")
        try:
            CRS.from_epsg(int(code))
        except (CRSError, ValueError):
            raise InvalidInput(f"unknown CRS {name!r}: not an EPSG code pyproj knows", where="crs") from None
        return f"EPSG:{int(code)}"
    raise InvalidInput(
        f"unknown CRS {name!r}: use WGS84, CGCS2000, GCJ-02, BD-09 or an EPSG code", where="crs"
    )


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """GCJ-02 only shifts points inside China's rough bounding box; outside it equals WGS84."""
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat):
    """Invert the forward shift by fixed-point iteration (converges to < 1e-9° in a few steps)."""
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(8):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (flon - glon), wlat - (flat - glat)
    return wlon, wlat


def gcj02_to_bd09(lon, lat):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    """The usual closed-form inverse is off by up to ~1e-6°; refine it by fixed-point iteration."""
    blon, blat = np.asarray(lon, float), np.asarray(lat, float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(4):
        flon, flat = gcj02_to_bd09(glon, glat)
        glon, glat = glon - (flon - blon), glat - (flat - blat)
    return glon, glat


@lru_cache
def _transformer(source: str) -> Transformer:
    return Transformer.from_crs(source, "EPSG:4326", always_xy=True)


def to_wgs84(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of x/y in ``crs`` → WGS84 lon/lat arrays."""
    name = canonical(crs)
    if name in (WGS84, CGCS2000):
        return np.asarray(lon, float), np.asarray(lat, float)
    if name == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if name == BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return _transformer(name).transform(np.asarray(lon, float), np.asarray(lat, float))


def from_wgs84(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat → ``crs``: for map pages on GCJ-02 / BD-09 basemaps."""
    name = canonical(crs)
    if name in (WGS84, CGCS2000):
        return np.asarray(lon, float), np.asarray(lat, float)
    if name == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if name == BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return Transformer.from_crs("EPSG:4326", name, always_xy=True).transform(
        np.asarray(lon, float), np.asarray(lat, float)
    )


def is_lonlat(crs: str) -> bool:
    """Whether ``crs`` is WGS84 lon/lat already, or within centimetres of it: nothing to convert."""
    return canonical(crs) in (WGS84, CGCS2000)


def unit_m(crs: str) -> float:
    """About how many metres one unit of ``crs``'s coordinates is: a degree of latitude for the
    lon/lat systems, the axis unit (metre, foot …) for a projected one."""
    name = canonical(crs)
    if name in ALIASES.values():
        return 111_320.0
    system = CRS.from_user_input(name)
    return 111_320.0 if system.is_geographic else system.axis_info[0].unit_conversion_factor


def geometry_to_wgs84(geometry, crs: str):
    """A shapely geometry (or array of them) in ``crs`` → WGS84, vertex by vertex."""
    import shapely

    name = canonical(crs)
    if name in (WGS84, CGCS2000):
        return geometry
    return shapely.transform(geometry, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], name)))


def geometry_from_wgs84(geometry, crs: str):
    """A WGS84 shapely geometry → ``crs``, vertex by vertex: a stored shape seen in the input's CRS."""
    import shapely

    name = canonical(crs)
    if name in (WGS84, CGCS2000):
        return geometry
    return shapely.transform(geometry, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], name)))
