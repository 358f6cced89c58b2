"""Cut a neighbour graph of buildings into contiguous parts of a band of households.

Buildings are indivisible. Each connected piece of the graph (an island cut off by hard barriers
is a piece of its own) is cut into ``k`` parts, ``k`` chosen so the mean part lies as far inside
the band as it can; GerryChain's ``recursive_tree_part`` draws random spanning trees and cuts
them into parts within ``epsilon`` of the mean, preferring cuts between blocks (borders on
streets). Of several seeds the plan with the shortest inner border (the most compact) is kept.
What the band cannot hold is reported, never hidden: a building over the ceiling becomes a grid
of its own (一楼一格), and a piece whose households no count of parts fits gets the nearest count
with the misfit named.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import networkx as nx
from gerrychain import Graph
from gerrychain.partition import recursive_tree_part
from gerrychain.tree import bipartition_tree

SEEDS = 6


@dataclass(frozen=True)
class Band:
    low: int
    high: int

    @property
    def middle(self) -> float:
        return (self.low + self.high) / 2

    def holds(self, households: int) -> bool:
        return self.low <= households <= self.high


@dataclass
class Plan:
    """Parts as lists of building indices, and what could not be held in the band."""

    parts: list[list[int]] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)


def part_counts(households: int, band: Band) -> list[int]:
    """The counts of parts whose mean lies in the band, the roomiest mean first (empty: none fits)."""
    counts = range(max(1, math.ceil(households / band.high)), households // band.low + 1)

    def room(k: int) -> float:
        mean = households / k
        return min(band.high / mean - 1, 1 - band.low / mean)

    return sorted(counts, key=room, reverse=True)


def _inner_border(graph: nx.Graph, assignment: dict[int, int]) -> float:
    return sum(d.get("border", 1.0) for u, v, d in graph.edges(data=True) if assignment[u] != assignment[v])


def _cut(graph: nx.Graph, k: int, households: int, band: Band, seed: int) -> dict[int, int] | None:
    """``k`` contiguous parts in the band, the most compact of ``SEEDS`` tries; None when none is found."""
    if k == 1:
        return dict.fromkeys(graph.nodes, 0)
    mean = households / k
    epsilon = min(band.high / mean - 1, 1 - band.low / mean) * 0.999
    labelled = nx.convert_node_labels_to_integers(graph, label_attribute="unit")
    chained = Graph.from_networkx(labelled)
    units = {n: labelled.nodes[n]["unit"] for n in labelled.nodes}
    best, best_border = None, math.inf
    bipartition = _bipartition()
    for attempt in range(SEEDS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = recursive_tree_part(chained, range(k), mean, "households", epsilon,
                                          bipartition_tree_fn=bipartition, rng=seed * 1000 + attempt)
        except Exception:  # noqa: BLE001 — GerryChain gives up with several error kinds: try the next seed
            continue
        assignment = {units[n]: part for n, part in raw.items()}
        border = _inner_border(graph, assignment)
        if border < best_border:
            best, best_border = assignment, border
    return best


def _bipartition():
    def cut(*args, **kwargs):
        kwargs.setdefault("max_attempts", 2000)
        kwargs.setdefault("region_surcharge", {"block": 1.0})
        return bipartition_tree(*args, **kwargs)

    return cut


def divide(graph: nx.Graph, households: dict[int, int], blocks: dict[int, int], band: Band, *, seed: int = 18) -> Plan:
    """Parts of the graph's nodes; each node's ``households`` and ``block`` as given."""
    plan = Plan()
    whole = graph.copy()
    for node in whole.nodes:
        whole.nodes[node]["households"] = households[node]
        whole.nodes[node]["block"] = blocks[node]
    for node, count in sorted(households.items()):
        if count > band.high:
            plan.parts.append([node])
            plan.problems.append({"kind": "building_over_ceiling", "buildings": [node], "households": count})
            whole.remove_node(node)
    pieces = [sorted(c) for c in nx.connected_components(whole)]
    for piece in sorted(pieces, key=lambda c: c[0]):
        total = sum(households[n] for n in piece)
        if total == 0:
            plan.problems.append({"kind": "no_households", "buildings": piece, "households": 0})
            plan.parts.append(piece)
            continue
        sub = whole.subgraph(piece)
        assignment = None
        for k in part_counts(total, band)[:3]:
            assignment = _cut(sub, k, total, band, seed)
            if assignment is not None:
                break
        if assignment is None:
            k = max(1, round(total / band.middle))
            assignment = _cut(sub, k, total, Band(0, max(total, band.high * 4)), seed) or dict.fromkeys(piece, 0)
            plan.problems.append({"kind": "band_infeasible", "buildings": piece, "households": total,
                                  "parts": len(set(assignment.values()))})
        groups: dict[int, list[int]] = {}
        for node, part in assignment.items():
            groups.setdefault(part, []).append(node)
        plan.parts.extend(sorted(members) for _, members in sorted(groups.items()))
    return plan
