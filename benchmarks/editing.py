"""Benchmark: boundary edits at city scale — the preview (dry run) and the save (commit) of
a single-grid transfer, a single-grid split by a line, and two community re-cuts that touch
many grids in one operation (merging all L2 grids of an L1 zone; a transfer between two L1
zones that cascades down to their L2/L3 children).

    .venv/bin/python benchmarks/editing.py [--database-url URL] [--repeat 15] [--seed 0]
    GISGRID_HOME=/tmp/gisgrid-city .venv/bin/python benchmarks/editing.py   # an embedded cluster elsewhere

Run it on a city-scale database (``gisgrid demo --sub-districts 200 --no-residents --no-cases
--load-only``). Bar (the issue): a single-grid edit previews and commits in under 300 ms.

What is timed, per run: the service call in ``gisgrid.grids.operations`` (strict mode, versions
filled in) plus ``session.rollback()`` for a dry run or ``session.commit()`` for a commit — what
one API request spends beyond HTTP. Shapes are derived from the grids themselves (a 30 m strip
along a shared border; an east-west line through the centroid), outside the timer.

Commits cannot be undone (grids are never deleted, history is append-only), so every run — dry
or committed — edits a different, never-edited (version 1) grid family, picked in an order set
by ``--seed``: THE COMMIT RUNS CHANGE THE DATABASE. Rerun with another ``--seed`` or just again
(edited families are skipped). One uncounted warm-up dry run precedes each case.

Besides medians and p95 (linear interpolation; with 15 runs it sits between the two slowest) it
gives the median time per section, timed by wrapping, in this process only, ``Edit.lock``, the
reads of children/siblings, ``impact.snapshot`` (before + after), ``Edit._write``,
``membership.moves``, ``impact.compare``, ``Edit._grids_report``, the commit/rollback and
``shapes._local`` (building the pyproj transformers behind metric lengths, "proj"); the rest
is split into SQL run outside those sections and Python ("python": parsing, shapely, geodesy).
Time in SQL (cursor execute) and statements per run are counted, and the slowest statements named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gisgrid.grids import editing, impact, membership, operations, shapes  # noqa: E402
from gisgrid.grids.editing import EditRequest  # noqa: E402

from common import database_arg, engine_from, median, peak_rss_mb, stopwatch, table  # noqa: E402

BAR_S = 0.300
STRIP_M = 30  # width of the strip along a shared border that a transfer hands over

# --- section timers (monkeypatched in this process only) --------------------------------------

SECTIONS = ("lock", "read", "snapshot", "write", "moves", "compare", "report", "end_tx", "proj")
BREAKDOWN = (*SECTIONS, "other_sql", "python", "all_sql")
_spent: dict[str, float] = defaultdict(float)
_depth: dict[str, int] = defaultdict(int)
_statements = [0]
_sql_by_text: dict[str, float] = defaultdict(float)   # statement (first line) → seconds, this run


def _timed(section: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        if _depth[section]:
            return fn(*args, **kwargs)  # recursion (move_children → children): count the outer call
        _depth[section] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _spent[section] += time.perf_counter() - start
            _depth[section] -= 1
    return wrapper


def _instrument(engine) -> None:
    Edit = editing.Edit
    Edit.lock = _timed("lock", Edit.lock)
    Edit.children = _timed("read", Edit.children)
    Edit.siblings = _timed("read", Edit.siblings)
    Edit._write = _timed("write", Edit._write)
    Edit._grids_report = _timed("report", Edit._grids_report)
    impact.snapshot = _timed("snapshot", impact.snapshot)   # editing calls impact.snapshot / .compare
    impact.compare = _timed("compare", impact.compare)
    membership.moves = _timed("moves", membership.moves)
    # building pyproj transformers for metric lengths (shapes.to_metres → _local, an lru_cache
    # keyed by the origin rounded to 0.001°); shapes calls it by its module-global name
    shapes._local = _timed("proj", shapes._local)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        _statements[0] += 1
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        spent = time.perf_counter() - conn.info.pop("started")
        _spent["sql"] += spent
        if not any(_depth.values()):
            _spent["sql_outside"] += spent  # SQL run outside the sections above
        _sql_by_text[" ".join(statement.split())[:90]] += spent


# --- picking grids ----------------------------------------------------------------------------

L2_LOAD = """
SELECT b.grid_l2_id AS id, count(*) FILTER (WHERE h.occupancy <> 'vacant')::int AS households
FROM buildings b JOIN households h ON h.building_id = b.id
WHERE b.grid_l2_id IS NOT NULL GROUP BY b.grid_l2_id
"""

# Fresh L2 grids carrying 250-350 households, each with its longest-bordering fresh sibling and a
# strip STRIP_M wide along the border they share (the part of the giver inside it is handed over).
TRANSFER_PAIRS = f"""
WITH load AS ({L2_LOAD}),
giver AS (
    SELECT g.* , load.households FROM grids g JOIN load ON load.id = g.id
    WHERE g.level = 2 AND g.retired_at IS NULL AND g.version = 1 AND load.households BETWEEN 250 AND 350
),
pair AS (
    SELECT DISTINCT ON (g.id) g.code AS giver, n.code AS receiver, g.parent_code AS family, g.households,
           ST_Intersection(ST_Boundary(g.geom), ST_Buffer(n.geom, 1e-6)) AS border
    FROM giver g JOIN grids n ON n.level = 2 AND n.parent_code = g.parent_code AND n.id <> g.id
         AND n.retired_at IS NULL AND n.version = 1 AND ST_Intersects(g.geom, n.geom)
    ORDER BY g.id, ST_Length(ST_Intersection(ST_Boundary(g.geom), ST_Buffer(n.geom, 1e-6))::geography) DESC
)
SELECT giver, receiver, family, households, ST_Length(border::geography) AS border_m,
       ST_AsGeoJSON(ST_Buffer(border::geography, {STRIP_M})::geometry) AS area
FROM pair WHERE ST_Length(border::geography) > 100
ORDER BY md5(giver || :seed)
"""

SPLIT_GRIDS = f"""
WITH load AS ({L2_LOAD})
SELECT g.code, g.parent_code AS family, load.households,
       ST_Y(ST_Centroid(g.geom)) AS cy, ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1
FROM grids g JOIN load ON load.id = g.id
WHERE g.level = 2 AND g.retired_at IS NULL AND g.version = 1 AND load.households BETWEEN 250 AND 350
ORDER BY md5(g.code || :seed)
"""

# L1 zones with 10-20 active L2 children, none of them (nor the zone) ever edited.
MERGE_FAMILIES = """
SELECT p.code AS family, array_agg(c.code ORDER BY c.code) AS codes,
       (SELECT count(*) FROM grids k WHERE k.parent_code = ANY(array_agg(c.code)) AND k.retired_at IS NULL)::int AS l3
FROM grids p JOIN grids c ON c.parent_code = p.code AND c.retired_at IS NULL
WHERE p.level = 1 AND p.retired_at IS NULL AND p.version = 1
GROUP BY p.code
HAVING count(*) BETWEEN 10 AND 20 AND bool_and(c.version = 1)
ORDER BY md5(p.code || :seed)
"""

# Adjacent fresh L1 zones of one sub-district and a strip along their shared border.
L1_PAIRS = f"""
WITH pair AS (
    SELECT DISTINCT ON (a.id) a.code AS giver, b.code AS receiver, a.subdistrict_code AS family,
           ST_Intersection(ST_Boundary(a.geom), ST_Buffer(b.geom, 1e-6)) AS border
    FROM grids a JOIN grids b ON b.level = 1 AND b.subdistrict_code = a.subdistrict_code AND b.id <> a.id
         AND b.retired_at IS NULL AND b.version = 1 AND ST_Intersects(a.geom, b.geom)
    WHERE a.level = 1 AND a.retired_at IS NULL AND a.version = 1
    ORDER BY a.id, ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Buffer(b.geom, 1e-6))::geography) DESC
)
SELECT giver, receiver, family, ST_Length(border::geography) AS border_m,
       ST_AsGeoJSON(ST_Buffer(border::geography, {STRIP_M})::geometry) AS area
FROM pair WHERE ST_Length(border::geography) > 200
ORDER BY md5(giver || :seed)
"""


@dataclass
class Pick:
    """One edit ready to run: the grids it names (for versions), the family it belongs to."""

    label: str
    codes: list[str]
    families: set[str]
    call: Callable[[Session, EditRequest], dict]
    note: dict = field(default_factory=dict)


def transfer_picks(session, seed) -> list[Pick]:
    return [Pick(f"{r.giver}→{r.receiver}", [r.giver, r.receiver], {r.family, r.giver, r.receiver},
                 (lambda s, q, r=r: operations.transfer(s, q, r.giver, to=r.receiver, area=json.loads(r.area))),
                 {"households": r.households, "border_m": round(r.border_m)})
            for r in session.execute(text(TRANSFER_PAIRS), {"seed": seed})]


def split_picks(session, seed) -> list[Pick]:
    out = []
    for r in session.execute(text(SPLIT_GRIDS), {"seed": seed}):
        pad = 0.01  # ~1 km beyond the grid's box on both sides
        line = {"type": "LineString", "coordinates": [[r.x0 - pad, r.cy], [r.x1 + pad, r.cy]]}
        out.append(Pick(r.code, [r.code], {r.family, r.code},
                        (lambda s, q, c=r.code, line=line: operations.split(s, q, c, line=line)),
                        {"households": r.households}))
    return out


def merge_picks(session, seed) -> list[Pick]:
    return [Pick(f"{r.family} ({len(r.codes)} L2, {r.l3} L3)", list(r.codes), {r.family, *r.codes},
                 (lambda s, q, codes=list(r.codes): operations.merge(s, q, codes)))
            for r in session.execute(text(MERGE_FAMILIES), {"seed": seed})]


def l1_transfer_picks(session, seed) -> list[Pick]:
    return [Pick(f"{r.giver}→{r.receiver}", [r.giver, r.receiver], {r.family, r.giver, r.receiver},
                 (lambda s, q, r=r: operations.transfer(s, q, r.giver, to=r.receiver, area=json.loads(r.area))),
                 {"border_m": round(r.border_m)})
            for r in session.execute(text(L1_PAIRS), {"seed": seed})]


CASES = [
    ("single-grid transfer (L2, 30 m strip)", transfer_picks, True),
    ("single-grid split by line (L2)", split_picks, True),
    ("re-cut: merge all L2 of one L1", merge_picks, False),
    ("re-cut: transfer between L1 zones", l1_transfer_picks, False),
]


# --- running ----------------------------------------------------------------------------------

@dataclass
class Run:
    seconds: float
    sections: dict[str, float]
    statements: int
    grids: int
    pick: Pick
    sql: dict[str, float]


def run_once(engine, pick: Pick, *, dry_run: bool) -> Run:
    with Session(engine) as session:
        versions = dict(session.execute(text("SELECT code, version FROM grids WHERE code = ANY(:c)"),
                                        {"c": pick.codes}).all())
        session.rollback()
        request = EditRequest(actor="benchmark", reason="benchmark: boundary edit at city scale",
                              mode="strict", versions=versions, dry_run=dry_run)
        _spent.clear()
        _sql_by_text.clear()
        _statements[0] = 0
        samples: list[float] = []
        with stopwatch(samples):
            report = pick.call(session, request)
            start = time.perf_counter()
            session.rollback() if dry_run else session.commit()
            _spent["end_tx"] += time.perf_counter() - start
        sections = {s: _spent.get(s, 0.0) for s in SECTIONS}
        sections["other_sql"] = _spent.get("sql_outside", 0.0)
        sections["python"] = samples[0] - sum(sections.values())
        sections["all_sql"] = _spent.get("sql", 0.0)
        return Run(samples[0], sections, _statements[0], len(report["grids"]), pick, dict(_sql_by_text))


def run_case(engine, name: str, candidates: list[Pick], repeat: int, used: set[str], failures: list[str],
             max_failures: int) -> dict[str, list[Run]]:
    """One uncounted warm-up dry run, then ``repeat`` dry and ``repeat`` committed runs, each on a
    family no earlier run touched. A run that raises is reported and the next grid tried."""
    queue = iter(candidates)
    results: dict[str, list[Run]] = {"warm-up": [], "dry": [], "commit": []}
    failed = 0
    plan = ["warm-up"] + ["dry", "commit"] * repeat
    for mode in plan:
        for pick in queue:
            if pick.families & used:
                continue
            used.update(pick.families)
            try:
                results[mode].append(run_once(engine, pick, dry_run=mode != "commit"))
                break
            except Exception as exc:  # noqa: BLE001 - reported verbatim, then the next grid
                failed += 1
                failures.append(f"{name} [{mode}] {pick.label}: {type(exc).__name__}: {exc}")
                if failed >= max_failures:
                    return {"dry": results["dry"], "commit": results["commit"]}
    return {"dry": results["dry"], "commit": results["commit"]}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", default="0", help="sets which grids are picked (md5 order)")
    parser.add_argument("--max-failures", type=int, default=10, help="per case, before giving up on it")
    args = parser.parse_args()
    engine = engine_from(args)
    with engine.connect() as conn:
        size = conn.execute(text("""
            SELECT (SELECT count(*) FROM subdistricts) AS subdistricts,
                   (SELECT count(*) FILTER (WHERE level = 1) FROM grids WHERE retired_at IS NULL) AS l1,
                   (SELECT count(*) FILTER (WHERE level = 2) FROM grids WHERE retired_at IS NULL) AS l2,
                   (SELECT count(*) FILTER (WHERE level = 3) FROM grids WHERE retired_at IS NULL) AS l3,
                   (SELECT count(*) FROM buildings) AS buildings,
                   (SELECT count(*) FROM households) AS households""")).one()
    print(f"database: {size.subdistricts:,} sub-districts, grids L1 {size.l1:,} / L2 {size.l2:,} / "
          f"L3 {size.l3:,} ({size.l1 + size.l2 + size.l3:,} active), buildings {size.buildings:,}, "
          f"households {size.households:,}")
    _instrument(engine)

    used: set[str] = set()   # families already edited by this run (dry runs included: no shared cache)
    rows, breakdown, failures, examples = [], [], [], []
    slowest: dict[str, list[tuple[str, float]]] = {}
    for name, picker, single in CASES:
        with Session(engine) as session, stopwatch(pick_time := []):
            candidates = picker(session, args.seed)
        results = run_case(engine, name, candidates, args.repeat, used, failures, args.max_failures)
        if not results["dry"] or not results["commit"]:
            rows.append({"case": name, "runs": f"{len(results['dry'])}+{len(results['commit'])}",
                         "bar": f"FAILED ({len(candidates)} candidates)"})
            continue
        dry = [r.seconds for r in results["dry"]]
        com = [r.seconds for r in results["commit"]]
        grids = [r.grids for r in results["dry"] + results["commit"]]
        rows.append({
            "case": name, "runs": f"{len(dry)}+{len(com)}",
            "grids": f"{min(grids)}-{max(grids)}" if min(grids) != max(grids) else str(grids[0]),
            "dry_med_ms": median(dry) * 1000, "dry_p95_ms": p95(dry) * 1000,
            "commit_med_ms": median(com) * 1000, "commit_p95_ms": p95(com) * 1000,
            "dry/bar": f"{median(dry) / BAR_S:.2f}x", "commit/bar": f"{median(com) / BAR_S:.2f}x",
            "bar": "single-grid" if single else "(n/a: many grids)",
        })
        for mode, runs in results.items():
            med = {s: median([r.sections[s] for r in runs]) * 1000 for s in BREAKDOWN}
            breakdown.append({"case": name, "mode": mode, **{s: f"{v:.1f}" for s, v in med.items()},
                              "stmts": int(median([r.statements for r in runs]))})
        every = results["dry"] + results["commit"]
        per_statement: dict[str, float] = defaultdict(float)
        for r in every:
            for sql, spent in r.sql.items():
                per_statement[sql] += spent / len(every)
        slowest[name] = sorted(per_statement.items(), key=lambda kv: -kv[1])[:3]
        example = results["commit"][0].pick
        examples.append(f"{name}: {len(candidates)} candidates (picked in {pick_time[0]:.1f} s), "
                        f"e.g. {example.label} {example.note or ''}")

    print(f"\nbar: a single-grid edit previews and commits in under {BAR_S * 1000:.0f} ms "
          "(times include rollback / commit; 'grids' = grids in the edit's report)")
    print(table(rows, ["case", "runs", "grids", "dry_med_ms", "dry_p95_ms", "commit_med_ms", "commit_p95_ms",
                       "dry/bar", "commit/bar", "bar"]))
    print("\nmedian ms per section (lock = read+lock named grids; read = children/siblings; snapshot = "
          "impact before+after;\n end_tx = rollback/commit; proj = pyproj transformer set-up;\n other_sql = SQL outside those; python = the rest; "
          "all_sql = time in SQL, every section; stmts = SQL statements):")
    print(table(breakdown, ["case", "mode", *BREAKDOWN, "stmts"]))
    print("\nslowest statements, mean ms per run:")
    for name, statements in slowest.items():
        print(f"  {name}: " + "; ".join(f"{ms * 1000:.1f} ms `{sql[:60]}`" for sql, ms in statements))
    print()
    for line in examples:
        print(line)
    if failures:
        print(f"\n{len(failures)} failed run(s), skipped to the next grid:")
        for line in failures:
            print("  " + line)
    print(f"\npeak RSS of this process: {peak_rss_mb():,.0f} MB (the database's own memory is not included)")


if __name__ == "__main__":
    main()
