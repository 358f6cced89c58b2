"""How good a division is, grid by grid and as a whole: the figures the proposal reports and the
benchmark compares (compactness as Polsby–Popper, borders on streets, balance)."""

from __future__ import annotations

import math
import statistics

import shapely
from shapely.geometry.base import BaseGeometry


def polsby_popper(shape_m: BaseGeometry) -> float:
    """4πA / P²: 1 for a circle, about 0.785 for a square, near 0 for a long thin shape."""
    perimeter = shape_m.length
    return 0.0 if perimeter == 0 else 4 * math.pi * shape_m.area / perimeter ** 2


def street_share(shape_m: BaseGeometry, outline_m: BaseGeometry, street_zone: BaseGeometry | None) -> float | None:
    """The share of the grid's inner border (the part not on its parent's outline, which the
    division did not draw) that runs on a street line; None without streets or inner border."""
    if street_zone is None:
        return None
    inner = shapely.difference(shape_m.boundary, shapely.buffer(outline_m.boundary, 0.5))
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
