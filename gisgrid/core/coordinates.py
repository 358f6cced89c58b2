"""Telling wrong coordinates apart: swapped lon/lat, a lost minus sign, projected metres.

China lies east and north of 0°, within a known box; coordinates that fit that box only once
swapped or sign-flipped are named as such, so the user knows what to fix rather than only that
something is out of range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

# China's rough extent, for telling swapped or sign-lost coordinates from merely wrong ones.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


INVALID_KINDS = {"Self-intersection": "自相交", "Ring Self-intersection": "环自相交",
                 "Too few points": "点数过少", "Hole lies outside shell": "洞在外环之外",
                 "Nested shells": "外环嵌套", "Interior is disconnected": "内部不连通",
                 "Duplicate Rings": "环重复", "Nested holes": "洞嵌套"}


def _fmt(x: float, y: float) -> str:
    return f"({x:.6f}, {y:.6f})"


def _number(value: float) -> str:
    """Degrees to 1e-7 (the storage precision), anything larger (metres, feet) to the millimetre."""
    return f"{value:.7f}" if abs(value) <= 360 else f"{value:.3f}"


def place(source: tuple[float, float], crs_label: str | None, wgs84: tuple[float, float] | None = None) -> str:
    """A point as the user gave it, in the input's CRS, with its WGS84 position beside it when
    that differs (the user looks for it on their own map): ``GCJ-02 (x, y) = WGS84 (x, y)``."""
    x, y = source
    if wgs84 is None:
        return f"({_number(x)}, {_number(y)})"
    return f"{crs_label} ({_number(x)}, {_number(y)}) = WGS84 ({wgs84[0]:.7f}, {wgs84[1]:.7f})"


def invalidity(geom, crs_label: str | None, to_wgs84: Callable | None) -> tuple[str, str] | None:
    """Why a shape, as given in ``crs_label``, is not a valid one — (Chinese, English), the place
    named by :func:`place` — or None when it is valid."""
    if shapely.is_valid(geom):
        return None
    kind, _, at = shapely.is_valid_reason(geom).partition("[")
    kind = kind.strip()
    label = INVALID_KINDS.get(kind, "无效")
    if not at:
        return label, kind
    x, y = (float(v) for v in at.rstrip("]").split()[:2])
    where = place((x, y), crs_label, None if to_wgs84 is None else tuple(float(v) for v in to_wgs84(x, y)))
    return f"{label}，位于 {where}", f"{kind} at {where}"


def _in(value_range: tuple[float, float], low: float, high: float) -> bool:
    return value_range[0] <= low and high <= value_range[1]


def coordinate_problem(minx, miny, maxx, maxy, sx, sy, crs_label) -> str | None:
    """Why a bounding box (WGS84; ``sx, sy`` its source corner) is no place in China, or None.
    The corner is named as the user gave it, with the WGS84 beside it when they differ."""
    if not all(np.isfinite(v) for v in (minx, miny, maxx, maxy)):
        if np.isfinite(sx) and np.isfinite(sy):
            return (f"坐标无法从 {crs_label} 转换 / coordinates {_fmt(sx, sy)} cannot be converted "
                    f"from {crs_label}: outside its area of use?")
        return "坐标不是有限数 / coordinates are not finite numbers (NaN or infinity)"
    at = _fmt(minx, miny) if (sx, sy) == (minx, miny) else f"{crs_label} {_fmt(sx, sy)} = WGS84 {_fmt(minx, miny)}"
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        if _in(CHINA_LON, miny, maxy) and _in(CHINA_LAT, minx, maxx):
            return (f"经纬度似乎颠倒（纬度 {maxy:g} > 90）/ lon/lat apparently swapped: "
                    f"{at} has latitude {maxy:g} > 90")
        return (f"坐标超出经纬度范围 {at} / coordinates out of lon/lat range "
                f"{at}: projected coordinates? name their CRS with --crs EPSG:xxxx")
    if _in(CHINA_LON, miny, maxy) and _in(CHINA_LAT, minx, maxx):
        return (f"经纬度似乎颠倒 / lon/lat apparently swapped: {at} "
                f"reads as longitude {minx:g}, latitude {miny:g}")
    if (minx < 0 or miny < 0) and _in(CHINA_LON, *sorted((abs(minx), abs(maxx)))) \
            and _in(CHINA_LAT, *sorted((abs(miny), abs(maxy)))):
        return (f"坐标在错误的半球（中国位于东经、北纬）/ wrong hemisphere: {at} — China "
                "lies east and north of 0°: a lost or extra minus sign?")
    return None
