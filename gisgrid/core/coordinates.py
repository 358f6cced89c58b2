"""Telling wrong coordinates apart: swapped lon/lat, a lost minus sign, projected metres.

China lies east and north of 0°, within a known box; coordinates that fit that box only once
swapped or sign-flipped are named as such, so the user knows what to fix rather than only that
something is out of range.
"""

from __future__ import annotations

import numpy as np

# China's rough extent, for telling swapped or sign-lost coordinates from merely wrong ones.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


def _fmt(x: float, y: float) -> str:
    return f"({x:.6f}, {y:.6f})"


def _in(value_range: tuple[float, float], low: float, high: float) -> bool:
    return value_range[0] <= low and high <= value_range[1]


def coordinate_problem(minx, miny, maxx, maxy, sx, sy, crs_label) -> str | None:
    """Why a bounding box (WGS84; ``sx, sy`` its source corner) is no place in China, or None."""
    if not all(np.isfinite(v) for v in (minx, miny, maxx, maxy)):
        if np.isfinite(sx) and np.isfinite(sy):
            return (f"坐标无法从 {crs_label} 转换 / coordinates {_fmt(sx, sy)} cannot be converted "
                    f"from {crs_label}: outside its area of use?")
        return "坐标不是有限数 / coordinates are not finite numbers (NaN or infinity)"
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        if _in(CHINA_LON, miny, maxy) and _in(CHINA_LAT, minx, maxx):
            return (f"经纬度似乎颠倒（纬度 {maxy:g} > 90）/ lon/lat apparently swapped: "
                    f"{_fmt(minx, miny)} has latitude {maxy:g} > 90")
        return (f"坐标超出经纬度范围 {_fmt(minx, miny)} / coordinates out of lon/lat range "
                f"{_fmt(minx, miny)}: projected coordinates? name their CRS with --crs EPSG:xxxx")
    if _in(CHINA_LON, miny, maxy) and _in(CHINA_LAT, minx, maxx):
        return (f"经纬度似乎颠倒 / lon/lat apparently swapped: {_fmt(minx, miny)} "
                f"reads as longitude {minx:g}, latitude {miny:g}")
    if (minx < 0 or miny < 0) and _in(CHINA_LON, *sorted((abs(minx), abs(maxx)))) \
            and _in(CHINA_LAT, *sorted((abs(miny), abs(maxy)))):
        return (f"坐标在错误的半球（中国位于东经、北纬）/ wrong hemisphere: {_fmt(minx, miny)} — China "
                "lies east and north of 0°: a lost or extra minus sign?")
    return None
