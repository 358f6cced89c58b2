"""How good a division is, grid by grid and as a whole: the figures the proposal reports and the
benchmark compares (compactness as Polsby–Popper, borders on streets, balance)."""

from __future__ import annotations

import math
import statistics

import shapely
from shapely.geometry.base import BaseGeometry

SNAP_M = 0.01    # vertices closer than this are one point
PINHOLE_M2 = 1.0  # a hole smaller than this is no ground left out


def solid(shape_m: BaseGeometry) -> BaseGeometry:
    """The shape as a person sees it: a union of cells leaves zero-width slits along the street
    lines it spans (holes and notches of no area), which add length to the border but are no
    border; snapped to a centimetre they close, and pinholes go."""
    snapped = shapely.set_precision(shape_m, SNAP_M)
    parts = [shapely.Polygon(p.exterior, [r for r in p.interiors if shapely.Polygon(r).area >= PINHOLE_M2])
             for p in shapely.get_parts(snapped) if p.geom_type == "Polygon"]
    return shapely.union_all(parts) if parts else snapped


def polsby_popper(shape_m: BaseGeometry) -> float:
    """4πA / P²: 1 for a circle, about 0.785 for a square, near 0 for a long thin shape."""
    shape_m = solid(shape_m)
    perimeter = shape_m.length
    return 0.0 if perimeter == 0 else 4 * math.pi * shape_m.area / perimeter ** 2


def street_share(shape_m: BaseGeometry, outline_m: BaseGeometry, street_zone: BaseGeometry | None) -> float | None:
    """The share of the grid's inner border (the part not on its parent's outline, which the
    division did not draw) that runs on a street line; None without streets or inner border."""
    if street_zone is None:
        return None
    inner = shapely.difference(solid(shape_m).boundary, shapely.buffer(outline_m.boundary, 0.5))
    if inner.length < 1:
        return None
    return shapely.intersection(inner, street_zone).length / inner.length


def summary(households: list[int], band: tuple[int, int], compactness: list[float],
            streets: list[float | None]) -> dict:
    """The division as a whole: grids, share in band, spread of households, medians."""
    low, high = band
    on_streets = [s for s in streets if s is not None]
    return {
        "grids": len(households),
        "in_band": sum(low <= h <= high for h in households),
        "in_band_share": round(sum(low <= h <= high for h in households) / len(households), 4) if households else None,
        "households": sum(households),
        "households_min": min(households, default=None), "households_max": max(households, default=None),
        "households_stdev": round(statistics.pstdev(households), 1) if households else None,
        "polsby_popper_median": round(statistics.median(compactness), 4) if compactness else None,
        "street_share_median": round(statistics.median(on_streets), 4) if on_streets else None,
    }
