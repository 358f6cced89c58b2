"""Benchmark (issue 18): automatic division — gisgrid's divide next to spopt's max-p and
GerryChain's recursive_tree_part on the same units and adjacency, on the demo sub-district and on a
set of a city's communities; then the whole city, one job per sub-district.

    GISGRID_HOME=/tmp/gisgrid-divbench .venv/bin/python benchmarks/division.py [--database-url URL]
        [--subdistrict 510107001] [--city-database-url URL] [--city-communities 8] [--city-jobs 200]
        [--workers 2] [--repeat 3] [--seed 18] [--markdown FILE] [--json FILE]

Prerequisites: the demo (``GISGRID_HOME=/tmp/gisgrid-divbench .venv/bin/gisgrid demo --load-only``)
and, for the city parts, a city from the same generator (``gisgrid demo --sub-districts 200
--no-residents --no-cases --load-only`` in a home of its own; pass its URL). Nothing is written to
either database: every division is a dry run.

Streets: the demo keeps no street table, so each sub-district's street file is redrawn from the
generator's seed (:mod:`gisgrid.demo.streets`: major roads ``primary``, hard barriers; streets and
lanes crossable) and handed to the division as a user's file would be. Each place is divided
twice: with the street file (street blocks) and without it (Voronoi cells of the buildings), the
street share measured against the same streets either way; the city's communities with the
street file only (max-p's time).

Units and adjacency are gisgrid's own, built once per community (L1 zone) by
:mod:`gisgrid.division.adjacency` from the service's building query (buildings weighted by
occupied households): each method cuts the same graph, connected piece by piece (a piece cut off
by hard barriers is never joined), and its grids are drawn and measured the same way (union of
the cells, empty blocks to the grid sharing most border, Polsby–Popper, share of inner border on
a street line).

* gisgrid — ``gisgrid.division.partition.divide``: band 200–300 as floor and ceiling, the part
  count chosen for the roomiest mean, several seeds, cuts preferred between blocks;
* max-p — ``spopt.region.MaxPHeuristic`` with a floor of 200 households (the centroid's x, y as
  the attributes it keeps homogeneous, i.e. compact regions), no ceiling: that is what it offers;
* tree — GerryChain ``recursive_tree_part``, k = round(households / 250) parts of the piece's mean
  ± 20 % (250 ± 20 %: 200–300), GerryChain's defaults otherwise; when a piece gives no valid plan
  in three seeds, ± 50 %, then the piece whole (counted in ``fallbacks``).

Reported per place and method: grids, the share of grids in band (all, and in the communities
where the band is feasible: every piece's households fit some count of parts and no building is
over the ceiling), households min / max / std, median Polsby–Popper, median share of border on
streets, the median runtime over ``--repeat`` runs (cutting and drawing; units and adjacency are
built once, their time shown apart) and the peak memory above the process's start (each method
runs in a forked child: ``ru_maxrss`` − RSS at fork). gisgrid's divide is also timed end to end
through ``service.divide`` (reading the database, the street file, everything), the figure the
bar "one sub-district under 30 s" is about.

City: ``--city-jobs`` sub-districts, one ``divide_and_adopt`` dry run each (what ``gisgrid divide
--subdistrict X --streets F`` runs: the proposal and its import impact, rolled back), ``--workers``
jobs in parallel, each in its own process; bar: 200 sub-districts under 30 minutes on 2 cores.
The bars and ratios are printed at the end (ratio ≥ 1 meets a "at least" bar, runtime / bar < 1
meets a time bar), with the load average (the figures are wall-clock on shared cores).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from shapely.geometry.base import BaseGeometry  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gisgrid.core.scope import WHOLE  # noqa: E402
from gisgrid.division import adjacency, metrics, partition, service  # noqa: E402
from gisgrid.division.streets import read_streets  # noqa: E402

from common import database_arg, median, neighbours, table  # noqa: E402

BAND = partition.Band(200, 300)
MAXP_FLOOR = 200
MAXP_SA = 10  # spopt's default: rounds of simulated annealing after each construction
TREE_TARGET, TREE_EPSILON = 250, 0.2
METHODS = ("gisgrid", "max-p", "tree")
BAR_ONE_S, BAR_CITY_S = 30.0, 1800.0


# --- the same units and adjacency for every method ----------------------------------------------

@dataclass
class Community:
    """One L1 zone: its buildings as units, their cells and neighbour graph (metres)."""

    code: str
    frame: service.Frame
    outline_m: BaseGeometry
    households: list[int]
    land: adjacency.Ground
    street_zone: BaseGeometry | None  # the streets the border share is measured against

    @property
    def pieces(self) -> list[list[int]]:
        return [sorted(c) for c in nx.connected_components(self.land.graph)]

    @property
    def feasible(self) -> bool:
        """Whether a division in band exists by count: no building over the ceiling and every
        piece's households fit some count of parts in the band."""
        if any(h > BAND.high for h in self.households):
            return False
        return all(partition.part_counts(sum(self.households[i] for i in piece), BAND) for piece in self.pieces)


def communities(session: Session, subdistrict: str, streets_path: Path | None, *, use_streets: bool,
                only: list[str] | None = None) -> list[Community]:
    """The sub-district's communities (or ``only`` those) as the division sees them: with the
    street file's blocks when ``use_streets``, else the buildings' Voronoi cells; the street zone
    for measuring comes from the file either way."""
    lines = read_streets(streets_path) if streets_path else None
    found = []
    for parent in service._parents(session, service.DivideRequest(subdistrict), WHOLE):
        if only is not None and parent["code"] not in only:
            continue
        buildings = service._buildings(session, parent, 2)
        if not buildings:
            continue
        centre = parent["geom"].centroid
        frame = service.Frame(centre.x, centre.y)
        streets = service._local_streets(lines, frame, parent["geom"])
        points = np.array([[p.x, p.y] for p in (frame.to_m(shapely.Point(b["lon"], b["lat"])) for b in buildings)])
        outline = frame.to_m(parent["geom"])
        land = adjacency.ground(outline, points, streets if use_streets else None)
        found.append(Community(parent["code"], frame, outline, [int(b["households"]) for b in buildings], land,
                               streets.zone() if streets else None))
    return found


# --- the three methods: parts as lists of unit indices ------------------------------------------

def gisgrid_parts(community: Community, seed: int) -> list[list[int]]:
    land = community.land
    return partition.divide(land.graph, dict(enumerate(community.households)), dict(enumerate(land.blocks)), BAND,
                            seed=seed).parts


def maxp_parts(community: Community, seed: int, sa: int = MAXP_SA) -> list[list[int]]:
    """spopt's max-p per connected piece (a piece under twice the floor stays whole: max-p would
    make it one region); ``sa`` rounds of its simulated annealing (most of its time)."""
    import geopandas
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    random.seed(seed)
    np.random.seed(seed)
    parts = []
    for piece in community.pieces:
        total = sum(community.households[i] for i in piece)
        if len(piece) == 1 or total < 2 * MAXP_FLOOR:
            parts.append(piece)
            continue
        index = {node: k for k, node in enumerate(piece)}
        sub = community.land.graph.subgraph(piece)
        neighbours_of = {index[n]: [index[m] for m in sub.neighbors(n)] for n in piece}
        centres = shapely.centroid([community.land.cells[i] for i in piece])
        frame = geopandas.GeoDataFrame({"x": shapely.get_x(centres), "y": shapely.get_y(centres),
                                        "households": [community.households[i] for i in piece]},
                                       geometry=[community.land.cells[i] for i in piece])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MaxPHeuristic(frame, W(neighbours_of, silence_warnings=True), ["x", "y"], "households", MAXP_FLOOR,
                                  max_iterations_sa=sa)
            model.solve()
        groups: dict[int, list[int]] = {}
        for k, label in enumerate(model.labels_):
            groups.setdefault(int(label), []).append(piece[k])
        parts += [sorted(g) for g in groups.values()]
    return parts


def tree_parts(community: Community, seed: int) -> tuple[list[list[int]], int]:
    """GerryChain's recursive_tree_part per piece at 250 ± 20 %; the parts and the fallbacks taken."""
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    parts, fallbacks = [], 0
    for piece in community.pieces:
        total = sum(community.households[i] for i in piece)
        k = max(1, round(total / TREE_TARGET))
        if k == 1:
            parts.append(piece)
            continue
        sub = nx.convert_node_labels_to_integers(community.land.graph.subgraph(piece), label_attribute="unit")
        for n in sub.nodes:
            sub.nodes[n]["households"] = community.households[sub.nodes[n]["unit"]]
        chained = Graph.from_networkx(sub)
        assignment = None
        for attempt, epsilon in enumerate((TREE_EPSILON,) * 3 + (0.5,)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    assignment = recursive_tree_part(chained, range(k), total / k, "households", epsilon,
                                                     rng=seed * 1000 + attempt)
                break
            except Exception:  # noqa: BLE001 — GerryChain gives up with several error kinds
                continue
        if assignment is None:
            fallbacks += 1
            parts.append(piece)
            continue
        fallbacks += epsilon != TREE_EPSILON
        groups: dict[int, list[int]] = {}
        for n, label in assignment.items():
            groups.setdefault(label, []).append(sub.nodes[n]["unit"])
        parts += [sorted(g) for g in groups.values()]
    return parts, fallbacks


def cut(method: str, community: Community, seed: int, maxp_sa: int = MAXP_SA
        ) -> tuple[list[list[int]], int]:
    if method == "gisgrid":
        return gisgrid_parts(community, seed), 0
    if method == "max-p":
        return maxp_parts(community, seed, maxp_sa), 0
    return tree_parts(community, seed)


# --- drawing and measuring, the same for all ----------------------------------------------------

def drawn(community: Community, parts: list[list[int]]) -> list[BaseGeometry]:
    """The grids' shapes in metres: union of their cells, the empty blocks to their neighbours."""
    shapes = [shapely.union_all([community.land.cells[i] for i in part]) for part in parts]
    service._give_fillers(shapes, community.land.fillers)
    return shapes


def measure(places: list[tuple[Community, list[list[int]]]]) -> dict:
    """The figures of a division of several communities, as gisgrid's summary gives them, plus the
    share in band where the band is feasible."""
    households, compactness, on_streets, feasible_in, feasible_all = [], [], [], 0, 0
    for community, parts in places:
        for part, shape in zip(parts, drawn(community, parts), strict=True):
            count = sum(community.households[i] for i in part)
            households.append(count)
            compactness.append(metrics.polsby_popper(shape))
            on_streets.append(metrics.street_share(shape, community.outline_m, community.street_zone))
            if community.feasible:
                feasible_all += 1
                feasible_in += BAND.holds(count)
    s = metrics.summary(households, (BAND.low, BAND.high), compactness, on_streets)
    return {**s, "in_band_feasible_share": round(feasible_in / feasible_all, 4) if feasible_all else None}


def run_method(method: str, places: list[Community], seed: int, maxp_sa: int = MAXP_SA) -> dict:
    """One method over the communities: its figures and time (cutting, drawing, measuring)."""
    start = time.perf_counter()
    results, fallbacks = [], 0
    for community in places:
        parts, fell = cut(method, community, seed, maxp_sa)
        results.append((community, parts))
        fallbacks += fell
    figures = measure(results)
    return {**figures, "seconds": time.perf_counter() - start, "fallbacks": fallbacks}


def division_layers(places: list[Community], seed: int = 18, maxp_sa: int = MAXP_SA
                    ) -> dict[str, list[tuple[BaseGeometry, int]]]:
    """Each method's grids in WGS84 with their households (for a map)."""
    layers: dict[str, list[tuple[BaseGeometry, int]]] = {}
    for method in METHODS:
        layers[method] = []
        for community in places:
            parts, _ = cut(method, community, seed, maxp_sa)
            for part, shape in zip(parts, drawn(community, parts), strict=True):
                layers[method].append((community.frame.to_deg(shape), sum(community.households[i] for i in part)))
    return layers


def compare(places: list[Community], seed: int = 18, maxp_sa: int = MAXP_SA) -> list[dict]:
    """The three methods side by side, in this process (the notebook's table)."""
    return [{"method": method, **run_method(method, places, seed, maxp_sa)} for method in METHODS]


# --- in a forked child: memory of its own -------------------------------------------------------

def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(pipe, fn, args) -> None:
    start = _rss_mb()
    try:
        result = fn(*args)
    except Exception as exc:  # noqa: BLE001 — reported as the row's error, the run goes on
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start, 1)
    pipe.send(result)
    pipe.close()


def forked(fn, *args) -> dict:
    """``fn(*args)`` in a forked child; its result with the memory it took above the fork."""
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(there, fn, args))
    child.start()
    there.close()
    result = here.recv()
    child.join()
    return result


def _service_divide(url: str, subdistrict: str, streets: Path | None, seed: int) -> dict:
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    start = time.perf_counter()
    with Session(engine) as session:
        proposal = service.divide(session, service.DivideRequest(subdistrict, streets=streets, seed=seed), WHOLE)
        session.rollback()
    engine.dispose()
    return {**proposal["summary"], "seconds": time.perf_counter() - start, "problems": len(proposal["problems"])}


# --- a place: the demo sub-district, or a set of the city's communities -------------------------

def bench_place(label: str, url: str, subdistricts: dict[str, list[str] | None], streets: dict[str, Path],
                args, variants: tuple[bool, ...] = (True, False)) -> list[dict]:
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    rows = []
    for use_streets in variants:
        adjacency_name = "street blocks" if use_streets else "Voronoi"
        start = time.perf_counter()
        with Session(engine) as session:
            places = [c for sd, only in subdistricts.items()
                      for c in communities(session, sd, streets[sd], use_streets=use_streets, only=only)]
        setup = time.perf_counter() - start
        engine.dispose()
        units = sum(len(c.households) for c in places)
        edges = sum(c.land.graph.number_of_edges() for c in places)
        feasible = sum(c.feasible for c in places)
        print(f"{label}, {adjacency_name}: {len(places)} communities ({feasible} feasible), {units:,} buildings, "
              f"{edges:,} neighbour pairs, units and adjacency built in {setup:.1f} s", flush=True)
        for method in METHODS:
            runs = [forked(run_method, method, places, args.seed) for _ in range(args.repeat if method != "max-p"
                                                                                else args.maxp_repeat)]
            good = [r for r in runs if "error" not in r]
            if not good:
                rows.append({"place": label, "adjacency": adjacency_name, "method": method, "error": runs[0]["error"]})
                continue
            row = dict(good[0])
            row.update(seconds=median([r["seconds"] for r in good]), peak_mb=max(r["peak_mb"] for r in good),
                       runs=len(good), setup_s=setup)
            rows.append({"place": label, "adjacency": adjacency_name, "method": method, **row})
            print(f"  {method}: {row['grids']} grids, in band {row['in_band_share']}, {row['seconds']:.1f} s", flush=True)
        if len(subdistricts) == 1:
            sd = next(iter(subdistricts))
            runs = [forked(_service_divide, url, sd, streets[sd] if use_streets else None, args.seed)
                    for _ in range(args.repeat)]
            row = dict(runs[0])
            row.update(seconds=median([r["seconds"] for r in runs]), peak_mb=max(r["peak_mb"] for r in runs),
                       runs=len(runs))
            rows.append({"place": label, "adjacency": adjacency_name, "method": "gisgrid divide (service, end to end)",
                         **row})
    return rows


def city_sample(url: str, count: int, seed: int) -> dict[str, list[str]]:
    """``count`` communities of the city drawn at random (``seed``), by sub-district."""
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT code, subdistrict_code FROM grids WHERE level = 1 AND retired_at IS NULL "
                                  "ORDER BY code")).all()
    engine.dispose()
    picked = random.Random(seed).sample(list(codes), count)
    chosen: dict[str, list[str]] = {}
    for code, sd in sorted(picked):
        chosen.setdefault(sd, []).append(code)
    return chosen


def street_file(folder: Path, subdistrict: str) -> Path:
    """The generator's streets of a demo-made sub-district (its code ends in its index + 1)."""
    from gisgrid.demo.streets import write_streets

    path = folder / f"streets-{subdistrict}.geojson"
    return path if path.exists() else write_streets(path, int(subdistrict[-3:]) - 1)


# --- the city: one job per sub-district ---------------------------------------------------------

def _city_job(url: str, subdistrict: str, streets: str, seed: int) -> dict:

    try:
        return _city_job_of(url, subdistrict, streets, seed)
    except Exception as exc:  # noqa: BLE001 — one sub-district's failure is reported, the city run goes on
        return {"subdistrict": subdistrict, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _city_job_of(url: str, subdistrict: str, streets: str, seed: int) -> dict:
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    start = time.perf_counter()
    with Session(engine) as session:
        answer = service.divide_and_adopt(session, service.DivideRequest(subdistrict, streets=Path(streets), seed=seed),
                                          WHOLE, actor="benchmark", reason=None, adopt_with=None, adopt_now=False)
        session.rollback()
    engine.dispose()
    s = answer["proposal"]["summary"]
    return {"subdistrict": subdistrict, "seconds": time.perf_counter() - start, "grids": s["grids"],
            "in_band": s["in_band"], "households": s["households"], "pp": s["polsby_popper_median"],
            "streets": s["street_share_median"], "problems": len(answer["proposal"]["problems"]),
            "problem_kinds": sorted({p["kind"] for p in answer["proposal"]["problems"]}),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_city(url: str, jobs: int, workers: int, folder: Path, seed: int) -> dict:
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT code FROM subdistricts ORDER BY code"))][:jobs]
    engine.dispose()
    files = {sd: str(street_file(folder, sd)) for sd in codes}
    print(f"city: {len(codes)} sub-districts, {workers} jobs at a time …", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_city_job, [url] * len(codes), codes, [files[c] for c in codes], [seed] * len(codes)))
    wall = time.perf_counter() - start
    failed = [d for d in done if "error" in d]
    for d in failed:
        print(f"  {d['subdistrict']} failed: {d['error']}", flush=True)
    done = [d for d in done if "error" not in d]
    grids = sum(d["grids"] for d in done)
    clean = [d for d in done if d["problems"] == 0]
    return {"sub_districts": len(done) + len(failed), "failed": len(failed), "wall_s": wall, "job_median_s": median([d["seconds"] for d in done]),
            "job_max_s": max(d["seconds"] for d in done), "grids": grids,
            "in_band_share": round(sum(d["in_band"] for d in done) / grids, 4),
            "in_band_share_without_problems": round(sum(d["in_band"] for d in clean) / max(1, sum(d["grids"] for d in clean)), 4),
            "sub_districts_with_problems": len(done) - len(clean),
            "problem_kinds": sorted({k for d in done for k in d["problem_kinds"]}),
            "pp_median": statistics.median(d["pp"] for d in done if d["pp"] is not None),
            "street_share_median": statistics.median(d["streets"] for d in done if d["streets"] is not None),
            "peak_rss_mb": max(d["peak_rss_mb"] for d in done), "load_average": os.getloadavg()[0]}


# --- report -------------------------------------------------------------------------------------

COLUMNS = ["place", "adjacency", "method", "grids", "in_band_share", "in_band_feasible_share", "households_min",
           "households_max", "households_stdev", "polsby_popper_median", "street_share_median", "seconds", "peak_mb",
           "fallbacks"]


def bars(rows: list[dict], city: dict | None) -> list[dict]:
    """Each bar of the issue with what was measured and the ratio (≥ 1 meets "at least", < 1 meets a time)."""
    found = []
    for place in dict.fromkeys(r["place"] for r in rows):
        for adjacency_name in dict.fromkeys(r["adjacency"] for r in rows if r["place"] == place):
            by = {r["method"]: r for r in rows if r["place"] == place and r["adjacency"] == adjacency_name
                  and "error" not in r}
            mine, maxp = by.get("gisgrid"), by.get("max-p")
            where = f"{place}, {adjacency_name}"
            if mine:
                share = mine["in_band_feasible_share"]
                found.append({"bar": f"{where}: grids in band where feasible = 100 %", "measured": share,
                              "ratio": share, "met": share == 1.0})
            if mine and maxp:
                for key, what in (("polsby_popper_median", "compactness"), ("street_share_median", "street share")):
                    if mine[key] is not None and maxp[key]:
                        found.append({"bar": f"{where}: {what} ≥ max-p's ({maxp[key]})", "measured": mine[key],
                                      "ratio": round(mine[key] / maxp[key], 3), "met": mine[key] >= maxp[key]})
            service_row = by.get("gisgrid divide (service, end to end)")
            if service_row:
                found.append({"bar": f"{where}: one sub-district < {BAR_ONE_S:.0f} s", "measured": service_row["seconds"],
                              "ratio": round(service_row["seconds"] / BAR_ONE_S, 3),
                              "met": service_row["seconds"] < BAR_ONE_S})
    if city:
        found.append({"bar": f"city of {city['sub_districts']} sub-districts < 30 min", "measured": city["wall_s"],
                      "ratio": round(city["wall_s"] / BAR_CITY_S, 3), "met": city["wall_s"] < BAR_CITY_S})
    return found


def markdown(rows: list[dict], city: dict | None, found: list[dict], context: str) -> str:
    def md(items: list[dict], columns: list[str]) -> str:
        head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        return head + "\n".join("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in items)

    parts = [f"# Automatic division benchmark\n\n{context}\n", md(rows, COLUMNS)]
    if city:
        parts.append("\n## City\n\n" + md([city], list(city)))
    parts.append("\n## Bars\n\n" + md(found, ["bar", "measured", "ratio", "met"]))
    return "\n".join(parts) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--subdistrict", default="510107001", help="the demo sub-district")
    parser.add_argument("--city-database-url", help="PostGIS holding a city from the demo generator")
    parser.add_argument("--city-communities", type=int, default=8, help="communities of the city compared (0: none)")
    parser.add_argument("--city-jobs", type=int, default=200, help="sub-districts divided in the city run (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="city jobs at a time")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median time)")
    parser.add_argument("--maxp-repeat", type=int, default=1, help="runs of max-p (slow)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--markdown", type=Path, help="write the tables here too")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    from gisgrid.core.database import database_url, normalise_url

    url = normalise_url(args.database_url) if args.database_url else database_url()
    print(neighbours(), flush=True)
    rows: list[dict] = []
    city = None
    with tempfile.TemporaryDirectory(prefix="gisgrid-division-bench-") as folder:
        folder = Path(folder)
        rows += bench_place(f"demo {args.subdistrict}", url, {args.subdistrict: None},
                            {args.subdistrict: street_file(folder, args.subdistrict)}, args)
        if args.city_database_url and args.city_communities:
            city_url = normalise_url(args.city_database_url)
            chosen = city_sample(city_url, args.city_communities, args.seed)
            rows += bench_place(f"city, {args.city_communities} communities", city_url, chosen,
                                {sd: street_file(folder, sd) for sd in chosen}, args, variants=(True,))
        if args.city_database_url and args.city_jobs:
            city = bench_city(normalise_url(args.city_database_url), args.city_jobs, args.workers, folder, args.seed)
    found = bars(rows, city)
    context = (f"band {BAND.low}–{BAND.high}; max-p floor {MAXP_FLOOR}; tree {TREE_TARGET} ± {TREE_EPSILON:.0%}; "
               f"seed {args.seed}; {args.repeat} runs (max-p {args.maxp_repeat}); {neighbours()}")
    print()
    print(table(rows, COLUMNS))
    if city:
        print()
        print(table([city], list(city)))
    print()
    print(table(found, ["bar", "measured", "ratio", "met"]))
    print(context)
    if args.markdown:
        args.markdown.write_text(markdown(rows, city, found, context))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "city": city, "bars": found, "context": context},
                                        ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
