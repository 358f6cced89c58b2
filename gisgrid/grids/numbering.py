"""The order grid serials follow within a parent: rows north→south, west→east within a row.

One scheme for every code, whoever makes it: the demo generator numbers its grids by it, and a
layer imported without codes gets its serials by it. A shape's place is its representative point
(always inside it); rows are as deep as a level's grids are tall, so a row holds grids side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from shapely.geometry.base import BaseGeometry

ROW_DEPTH_M = {1: 600.0, 2: 150.0, 3: 60.0}  # community zones, grids, micro-grids


def reading_order(shapes_m: Sequence[BaseGeometry], row_depth: float) -> list[int]:
    """Indices of ``shapes_m`` (in metres, y north) in serial order."""
    centres = [s.representative_point() for s in shapes_m]
    top = max(c.y for c in centres)
    return sorted(range(len(shapes_m)), key=lambda i: (int((top - centres[i].y) // row_depth), centres[i].x))
