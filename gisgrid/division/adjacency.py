"""Which buildings neighbour which, and the piece of ground each one brings to a grid.

A street file cuts the parent's shape into blocks (``shapely.polygonize`` of the street lines and
the parent's border). Within a block every building gets its Voronoi cell clipped to the block,
so the cells of a block tile it exactly and the union of any set of cells is a grid whose border
runs on streets wherever it leaves a block. Two buildings are neighbours when their cells share
a border that does not run along a hard barrier (a trunk road, a river, a railway): within a
block always, across a minor street yes, across a hard barrier never. Without a street file the
parent's shape is one block: the cells are the buildings' Voronoi cells (a Delaunay adjacency).
Blocks without buildings (a park, a square) are ground no building brings: ``fillers``, given
after the division to the grid they share the longest border with.

Everything here is in metres (a local frame); geometry only, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

TOUCH_M = 0.5        # a shared border shorter than this is a corner, not a border
STREET_WIDTH_M = 2.0  # a border within this of a street line runs on the street


@dataclass
class Streets:
    """Street, river and rail lines (metres), each marked hard (a barrier) or not."""

    lines: list[BaseGeometry] = field(default_factory=list)
    hard: list[bool] = field(default_factory=list)

    def zone(self, hard_only: bool = False) -> BaseGeometry | None:
        chosen = [line for line, hard in zip(self.lines, self.hard, strict=True) if hard or not hard_only]
        return shapely.union_all(shapely.buffer(chosen, STREET_WIDTH_M)) if chosen else None


@dataclass
class Ground:
    """The parent's shape cut into one cell per building, the empty blocks, and the neighbours."""

    cells: list[BaseGeometry]        # by building index
    blocks: list[int]                # the block of each building
    fillers: list[BaseGeometry]      # blocks no building stands in
    graph: nx.Graph                  # buildings, with an edge per shared (non-barrier) border
    street_zone: BaseGeometry | None  # every street line, buffered
    border: dict[tuple[int, int], float]  # shared border length (m) of neighbouring cells


def cut_blocks(shape: BaseGeometry, streets: Streets | None) -> list[BaseGeometry]:
    """The shape cut by the street lines into blocks (the whole shape's parts without streets)."""
    if streets is None or not streets.lines:
        return list(getattr(shape, "geoms", [shape]))
    noded = shapely.union_all([shape.boundary, *shapely.intersection(streets.lines, shape)])
    pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = [p for p in pieces if shape.contains(p.representative_point()) and p.area > 0]
    return [shapely.intersection(p, shape) for p in inside]


def _block_of(points: np.ndarray, blocks: list[BaseGeometry]) -> np.ndarray:
    """Each point's block: the one containing it, else (on a street line, or just outside) the nearest."""
    tree = shapely.STRtree(blocks)
    geoms = shapely.points(points)
    found = np.full(len(points), -1)
    pairs = tree.query(geoms, predicate="within")
    found[pairs[0]] = pairs[1]
    missing = np.flatnonzero(found < 0)
    if len(missing):
        found[missing] = tree.query_nearest(geoms[missing], all_matches=False)[1]
    return found


def _cells_in(block: BaseGeometry, points: np.ndarray) -> list[BaseGeometry]:
    """The Voronoi cells of ``points`` clipped to ``block``, in the points' order (two buildings
    on one spot are moved a centimetre apart: each keeps a cell of its own)."""
    if len(points) == 1:
        return [block]
    sites = points.copy()
    _, first, counts = np.unique(np.round(sites, 2), axis=0, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            same = np.flatnonzero(np.all(np.round(sites, 2) == np.round(sites[start], 2), axis=1))
            sites[same, 0] += 0.01 * np.arange(len(same))
    regions = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(sites), extend_to=block))
    tree = shapely.STRtree(regions)
    owner = tree.query(shapely.points(sites), predicate="within")
    cells: list[BaseGeometry] = [shapely.Polygon()] * len(sites)
    for point_index, region_index in zip(*owner, strict=True):
        cells[point_index] = _polygonal(shapely.intersection(regions[region_index], block))
    return cells


def _polygonal(shape: BaseGeometry) -> BaseGeometry:
    """The area of ``shape``: a cell cut by a block's ragged edge can come back as a collection
    with slivers of line or points, which have no boundary to measure."""
    if shape.geom_type != "GeometryCollection":
        return shape
    areas = [part for part in shapely.get_parts(shape) if part.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(areas) if areas else shapely.Polygon()


def ground(shape: BaseGeometry, points: np.ndarray, streets: Streets | None = None) -> Ground:
    """Cells, fillers and the neighbour graph of the buildings at ``points`` (n × 2, metres)."""
    blocks = cut_blocks(shape, streets)
    block_of = _block_of(points, blocks) if len(points) else np.array([], dtype=int)
    cells: list[BaseGeometry] = [shapely.Polygon()] * len(points)
    for b, block in enumerate(blocks):
        members = np.flatnonzero(block_of == b)
        if len(members):
            for i, cell in zip(members, _cells_in(block, points[members]), strict=True):
                cells[i] = cell
    fillers = [block for b, block in enumerate(blocks) if not np.any(block_of == b)]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(points)))
    hard_zone = streets.zone(hard_only=True) if streets else None
    border: dict[tuple[int, int], float] = {}
    if len(points) > 1:
        tree = shapely.STRtree(cells)
        left, right = tree.query(cells, predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i >= j:
                continue
            shared = shapely.intersection(cells[i].boundary, cells[j].boundary)
            length = shared.length
            if length < TOUCH_M:
                continue
            border[(int(i), int(j))] = length
            open_length = length if hard_zone is None else shapely.difference(shared, hard_zone).length
            if open_length >= TOUCH_M:
                graph.add_edge(int(i), int(j), border=length)
    return Ground(cells=cells, blocks=[int(b) for b in block_of], fillers=fillers, graph=graph,
                  street_zone=streets.zone() if streets else None, border=border)
