"""Benchmark: gisgrid's vector tiles next to tipg's (https://github.com/developmentseed/tipg, the
FastAPI + PostGIS OGC tile server) serving the same tables of the same database, in one run.

    GISGRID_HOME=/tmp/gisgrid-city .venv/bin/python benchmarks/tiles.py [--database-url URL]
        [--tiles 300] [--rounds 3] [--concurrency 8] [--workers 2] [--seed 0] [--verify 6] [--gzip]
        [--scope all|community [--community L1-CODE]]

Run it on a city-scale database (``gisgrid demo --sub-districts 200 --no-residents --no-cases
--load-only``). On first use it makes a venv for tipg in ``benchmarks/.tipg-venv`` (``python3 -m
venv`` + ``pip install tipg 'uvicorn[standard]'``, printed as it goes; gitignored). The standard extra
(uvloop, httptools) is what gisgrid runs on too (its pyproject), and it matters: plain uvicorn with
``--workers N`` on the asyncio loop leaves Nagle on for accepted sockets (Kludex/uvicorn#3149), so
every keep-alive response waits ~40 ms on the client's delayed ACK — tipg measured ~50 ms a tile at
concurrency 1 that way, against ~10 ms with uvloop.

Both servers run at the same time, on free local ports, with the same number of uvicorn workers:
``gisgrid serve`` (which migrates the database to head first) and ``uvicorn tipg.main:app`` with
``DATABASE_URL`` set to the same database, only ``public.buildings`` and ``public.grids`` published
(TIPG_DB_TABLES), the tile buffer set to gisgrid's (64 of 4096), no catalog refresh during the run.

Tiles: a fixed list per layer, the same for both servers, reproducible with ``--seed``: the tiles
holding random buildings (``ORDER BY md5(id || seed)``) at zooms 14, 15, 16 for ``buildings``, the
tiles holding a point on random active L2 grids at zooms 13, 14, 15 for ``grids_l2`` and on random
L3 grids at zooms 14, 15, 16 for ``grids_l3`` (its layer starts at zoom 14), one zoom per pick in
turn, duplicates dropped. What each side is asked for:

  buildings  gisgrid /layers/buildings/tiles/z/x/y.mvt: id, name, address, floors and, per building,
             its L2 grid code (join to grids), its occupied households and key-group people (join
             to building_loads, the exact counts triggers keep: migration 0008).
             tipg /collections/public.buildings/tiles/WebMercatorQuad/z/x/y?properties=id,name,address,floors
  grids_l2/3 gisgrid: code, name, level, parent_code, version, the grid lead (grid_assignments+staff)
             and the load (households, people from grid_loads, kept like building_loads; a status
             against the level's band). tipg: ?properties=code,name,level,parent_code,version with
             filter=level=N AND retired_at IS NULL (the same rows, none of the joins).

So gisgrid does more work per feature; the property lists are the comparable subset tipg can give.
Both send raw MVT: requests carry ``Accept-Encoding: identity`` (tipg would gzip otherwise; gisgrid
never does) unless ``--gzip``.

Who asks: gisgrid answers signed-in callers only, tipg anyone. gisgrid's requests carry the API key
of a benchmark account made in the database once gisgrid has migrated it (``common.benchmark_caller``:
the account once, a fresh key each run, revoked at the end), a city-wide administrator: scope
``all``, every feature, the fair comparison with tipg. Each request resolves the key (one
prepared call of ``gisgrid_principal``) before the tile.

``--scope community`` asks what a scoped caller costs: a community manager of one L1 zone
(``--community``, default the zone with the most buildings; account ``benchmark-l1-<code>``), whose
tiles hold the zone's features only and are cached per scope. Every list is then drawn from inside
the zone (its buildings, its L2 and L3 grids) and, a zone being small (some 20 tiles a layer at the
city zooms), at the layer's zooms and the next two in: lists of some 10-100 tiles, short passes,
so give it more ``--rounds``. gisgrid runs each pass twice, as the administrator and as the
manager, on the same tiles; tipg serves them unscoped, as always.

A pass requests every tile of a layer's list once over ``--concurrency`` keep-alive connections,
the same client for both servers: asyncio (uvloop when installed) with hand-written HTTP/1.1 GETs
on plain streams (Content-Length or chunked bodies; status, latency and body bytes of every
request kept). It costs about 0.1 ms of CPU a tile where httpx in threads cost 0.7–1.0 ms, CPU the
servers and the database share on a small machine. Per layer, ``--rounds`` rounds of: tipg, then gisgrid. When the database has gisgrid's
``tile_cache`` table (migration 0007) gisgrid runs twice a round: "cold" right after ``TRUNCATE
tile_cache`` (every tile rendered and stored; the rows stored are counted after it) and "warm" over
the same list right after (every tile read from the cache); without the table there is one
"uncached" pass a round and no warm figure. Rounds are pooled: tiles/s is all requests over the
summed wall time, p50/p95 over all requests. Before any timing both servers get every list once,
untimed ("prime": database pages in memory for both, pools open), and the cache is truncated after.

Reported per server (and caller), layer and pass: tiles/s (tiles / wall time of the pass), median
and p95 latency (linear interpolation), mean bytes per tile, 200s, empty 200s, errors, and CPU per
tile of the server's processes and of the whole PostgreSQL cluster (from /proc; the machine also
runs this client) and of everything else on the machine meanwhile ("other cpu": on a shared
machine, someone else's work that skews the comparison, worst for the fast cached passes), then
the ratios gisgrid/tipg and the bars from the issue: gisgrid with a cold cache at least as fast as
tipg (tiles/s ratio >= 1.0), with its own tile cache at least 5x tipg. ``--verify`` tiles a layer
are decoded (mapbox_vector_tile) from both servers and their feature counts shown: gisgrid picks
rows in the tile grown by its buffer, tipg in the bare tile, so gisgrid may hold a few more
features near the edges.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
import mapbox_vector_tile  # noqa: E402

try:
    import uvloop
except ImportError:  # the plain asyncio loop works too, at some more client CPU
    uvloop = None
from sqlalchemy import text  # noqa: E402

from gisgrid.layers.service import BUFFER, EXTENT, MVT_MEDIA_TYPE  # noqa: E402

from common import (  # noqa: E402
    CLK_TCK,
    Caller,
    Server,
    benchmark_caller,
    database_arg,
    engine_from,
    median,
    postmaster_pid,
    table,
    tree_cpu,
)

ROOT = Path(__file__).resolve().parents[1]
TIPG_VENV = Path(__file__).resolve().parent / ".tipg-venv"
COLD_BAR, WARM_BAR = 1.0, 5.0


@dataclass(frozen=True)
class LayerCase:
    name: str            # gisgrid layer
    zooms: tuple[int, ...]
    picks: str           # SQL: lon, lat of random features, in a seeded order
    tipg_collection: str
    tipg_query: dict
    gisgrid_does: str
    tipg_does: str


GRID_PROPS = "code,name,level,parent_code,version"
GRID_PICKS = """
SELECT ST_X(p), ST_Y(p) FROM (
    SELECT ST_PointOnSurface(geom) AS p, code FROM grids WHERE level = {level} AND retired_at IS NULL
    AND (CAST(:l1_code AS text) IS NULL OR starts_with(code, :l1_code))
    ORDER BY md5(code || :seed) LIMIT :n
) picked
"""

CASES = {
    "buildings": LayerCase(
        "buildings", (14, 15, 16),
        "SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE CAST(:l1_id AS integer) IS NULL OR grid_l1_id = :l1_id "
        "ORDER BY md5(id::text || :seed) LIMIT :n",
        "public.buildings", {"properties": "id,name,address,floors", "geom-column": "geom"},
        "id,name,address,floors + per building: L2 grid code, occupied households, key-group people",
        "id,name,address,floors",
    ),
    "grids_l2": LayerCase(
        "grids_l2", (13, 14, 15), GRID_PICKS.format(level=2),
        "public.grids", {"properties": GRID_PROPS, "geom-column": "geom",
                         "filter": "level=2 AND retired_at IS NULL", "filter-lang": "cql2-text"},
        f"{GRID_PROPS} + grid lead, households, people, load status and band per grid",
        f"{GRID_PROPS} (level=2 AND retired_at IS NULL)",
    ),
    "grids_l3": LayerCase(
        "grids_l3", (14, 15, 16), GRID_PICKS.format(level=3),
        "public.grids", {"properties": GRID_PROPS, "geom-column": "geom",
                         "filter": "level=3 AND retired_at IS NULL", "filter-lang": "cql2-text"},
        f"{GRID_PROPS} + grid lead, households, people, load status and band per grid",
        f"{GRID_PROPS} (level=3 AND retired_at IS NULL)",
    ),
}


# --- tiles ------------------------------------------------------------------------------------

def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def pick_tiles(conn, case: LayerCase, count: int, seed: int,
               zone: tuple[int, str] | None = None) -> list[tuple[int, int, int]]:
    """``count`` distinct tiles holding seeded random features, zooms taken in turn; with an L1
    ``zone`` (id, code) only its features, at two more zooms."""
    zooms = case.zooms if zone is None else (*case.zooms, case.zooms[-1] + 1, case.zooms[-1] + 2)
    points = conn.execute(text(case.picks), {"seed": str(seed), "n": count * 4, "l1_id": zone and zone[0],
                                             "l1_code": zone and zone[1]}).all()
    tiles: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for i, (lon, lat) in enumerate(points):
        z = zooms[i % len(zooms)]
        tile = (z, *lonlat_to_tile(lon, lat, z))
        if tile not in seen:
            seen.add(tile)
            tiles.append(tile)
        if len(tiles) == count:
            break
    return tiles


def ensure_tipg(venv: Path) -> Path:
    python = venv / "bin/python"
    if python.exists() and subprocess.run([str(python), "-c", "import tipg, uvicorn, uvloop, httptools"],
                                          capture_output=True).returncode == 0:
        return python
    steps = [[str(venv / "bin/pip"), "install", "-q", "tipg", "uvicorn[standard]"]]
    if not python.exists():
        steps.insert(0, ["python3", "-m", "venv", str(venv)])
    for argv in steps:
        print("$ " + " ".join(argv), flush=True)
        subprocess.run(argv, check=True)
    return python


def tipg_version(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import tipg; print(tipg.__version__)"],
                          capture_output=True, text=True).stdout.strip()


# --- CPU from /proc ---------------------------------------------------------------------------

def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every CPU, not idle or waiting on I/O)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


# --- load -------------------------------------------------------------------------------------

@dataclass
class Pass:
    server: str
    layer: str
    kind: str
    caller: str = "-"        # who gisgrid served: "admin all", "manager l1:<id>"
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    ok: int = 0
    empty: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    app_cpu: float = 0.0
    db_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0   # everything else on the machine: other people's work skews a pass
    cached: list[int] = field(default_factory=list)   # tile_cache rows of the layer after each cold pass

    @property
    def tiles(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.tiles / self.seconds

    def p(self, q: float) -> float:
        values = sorted(self.latencies)
        k = (len(values) - 1) * q
        lo = int(k)
        hi = min(lo + 1, len(values) - 1)
        return values[lo] + (values[hi] - values[lo]) * (k - lo)

    def row(self) -> dict:
        n = max(self.tiles, 1)
        return {"layer": self.layer, "server": self.server, "caller": self.caller, "pass": self.kind,
                "tiles": self.tiles,
                "200": self.ok, "empty": self.empty, "errors": self.errors,
                "tiles/s": f"{self.rate:,.1f}", "p50 ms": f"{median(self.latencies) * 1000:.1f}",
                "p95 ms": f"{self.p(0.95) * 1000:.1f}",
                "KB/tile": f"{statistics.fmean(self.sizes) / 1024:.1f}" if self.sizes else "",
                "server cpu": f"{self.app_cpu * 1000 / n:.1f}",
                "db cpu": f"{self.db_cpu * 1000 / n:.1f}" if self.db_pid_known else "",
                "client cpu": f"{self.client_cpu * 1000 / n:.1f}",
                "other cpu": f"{self.other_cpu * 1000 / n:.1f}" if self.db_pid_known else ""}

    db_pid_known: bool = True


def run_pass(result: Pass, urls: list[str], concurrency: int, headers: dict, server_pid: int | None,
             db_pid: int | None) -> Pass:
    """Every URL once over ``concurrency`` keep-alive connections; adds to ``result``."""
    app0, db0, me0, all0 = tree_cpu(server_pid), tree_cpu(db_pid), _self_cpu(), machine_cpu()
    start = time.perf_counter()
    run = uvloop.run if uvloop else asyncio.run
    run(_fetch_all(result, urls, concurrency, headers))
    result.seconds += time.perf_counter() - start
    app, db, me = tree_cpu(server_pid) - app0, tree_cpu(db_pid) - db0, _self_cpu() - me0
    result.app_cpu += app
    result.db_cpu += db
    result.client_cpu += me
    result.other_cpu += max(0.0, machine_cpu() - all0 - app - db - me)
    result.db_pid_known = db_pid is not None
    return result


async def _fetch_all(result: Pass, urls: list[str], concurrency: int, headers: dict) -> None:
    """The client: hand-written HTTP/1.1 GETs on asyncio streams, a connection a worker, each
    worker taking the next URL of the shared list."""
    todo = iter(urls)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def worker() -> None:
        reader = writer = None
        for url in todo:
            parts = urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode()
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request)
                status, body, keep = await _response(reader)
                error = None if status == 200 else f"{status} {url}: {body[:200]!r}"
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
                body, keep, error = b"", False, f"{type(exc).__name__} {url}: {exc}"
            result.latencies.append(time.perf_counter() - start)
            if not keep and writer is not None:
                writer.close()
                reader = writer = None
            if error:
                result.errors += 1
                if len(result.error_samples) < 3:
                    result.error_samples.append(error)
                continue
            result.ok += 1
            result.sizes.append(len(body))
            if not body:
                result.empty += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body as sent (Content-Length or chunked) and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(None, 2)[1])
    fields = dict(line.split(b":", 1) for line in lines[1:] if line)
    fields = {k.strip().lower(): v.strip().lower() for k, v in fields.items()}
    if b"content-length" in fields:
        body = await reader.readexactly(int(fields[b"content-length"]))
    elif fields.get(b"transfer-encoding") == b"chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(chunks)
    else:
        raise ValueError("a response with neither Content-Length nor chunked encoding")
    return status, body, fields.get(b"connection") != b"close"


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_count(data: bytes) -> tuple[int, set[str]]:
    if not data:
        return 0, set()
    layers = mapbox_vector_tile.decode(data)
    features = [f for layer in layers.values() for f in layer["features"]]
    keys = set().union(*(f["properties"].keys() for f in features)) if features else set()
    return len(features), keys


# --- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--tiles", type=int, default=300, help="tiles per layer")
    parser.add_argument("--layers", default="buildings,grids_l2,grids_l3")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, each server")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (tipg, gisgrid cold, gisgrid warm) over the list; pooled in the results")
    parser.add_argument("--verify", type=int, default=6, help="tiles a layer decoded from both servers")
    parser.add_argument("--gzip", action="store_true", help="accept gzip (tipg compresses, gisgrid does not)")
    parser.add_argument("--no-prime", action="store_true", help="skip the untimed pass over the list")
    parser.add_argument("--tipg-venv", type=Path, default=TIPG_VENV)
    parser.add_argument("--scope", choices=("all", "community"), default="all",
                        help="all: gisgrid signed as a city-wide administrator; community: tiles of one L1 zone, "
                             "gisgrid signed as the administrator and as the zone's community manager")
    parser.add_argument("--community", help="with --scope community: the L1 zone's code (default: most buildings)")
    args = parser.parse_args()
    cases = [CASES[name] for name in args.layers.split(",")]

    # a plain `kill` of this script still stops both servers (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tipg_python = ensure_tipg(args.tipg_venv)
    engine = engine_from(args)
    url = engine.url.render_as_string(hide_password=False)
    libpq_url = url.replace("postgresql+psycopg://", "postgresql://")
    with engine.connect() as conn:
        buildings, grids = conn.execute(text(
            "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM grids WHERE retired_at IS NULL)")).one()
        zone = None
        if args.scope == "community":
            zone = conn.execute(text("""
                SELECT g.id, g.code FROM grids g LEFT JOIN buildings b ON b.grid_l1_id = g.id
                WHERE g.level = 1 AND g.retired_at IS NULL AND (CAST(:code AS text) IS NULL OR g.code = :code)
                GROUP BY g.id, g.code ORDER BY count(b.id) DESC, g.code LIMIT 1"""), {"code": args.community}).first()
            if zone is None:
                raise SystemExit(f"no active L1 grid {args.community}")
            zone = tuple(zone)
        tiles = {case.name: pick_tiles(conn, case, args.tiles, args.seed, zone) for case in cases}
        db_pid = postmaster_pid(conn)
    print(f"database {engine.url.render_as_string(hide_password=True)}: {buildings:,} buildings, "
          f"{grids:,} active grids; tipg {tipg_version(tipg_python)}; {args.workers} workers each, "
          f"{args.concurrency} client connections, {os.cpu_count()} CPUs on this machine", flush=True)
    for case in cases:
        zooms = sorted({z for z, _, _ in tiles[case.name]})
        where = f" inside the L1 zone {zone[1]}" if zone else ""
        print(f"  {case.name}: {len(tiles[case.name])} tiles{where} at zooms {zooms} (seed {args.seed})")

    headers = {} if args.gzip else {"Accept-Encoding": "identity"}
    logdir = Path(tempfile.mkdtemp(prefix="gisgrid-tiles-bench-"))
    servers: list[Server] = []
    callers: list[Caller] = []
    passes: list[Pass] = []
    verify_rows: list[dict] = []
    try:
        gisgrid = Server(
            "gisgrid", [str(ROOT / ".venv/bin/gisgrid"), "serve", "--port", "{port}", "--workers",
                        str(args.workers), "--no-access-log"],
            {**os.environ, "GISGRID_DATABASE_URL": url}, "/health", logdir)
        servers.append(gisgrid)
        tipg = Server(
            "tipg", [str(tipg_python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", "{port}",
                     "--workers", str(args.workers), "--loop", "uvloop", "--http", "httptools",
                     "--no-access-log", "--log-level", "warning"],
            {**os.environ, "DATABASE_URL": libpq_url, "TIPG_DB_SCHEMAS": '["public"]',
             "TIPG_DB_TABLES": '["public.buildings","public.grids"]', "TIPG_DB_SPATIAL_EXTENT": "false",
             "TIPG_DB_DATETIME_EXTENT": "false", "TIPG_CATALOG_TTL": "0", "TIPG_TILE_BUFFER": str(BUFFER),
             "TIPG_TILE_RESOLUTION": str(EXTENT), "TIPG_MAX_FEATURES_PER_TILE": "100000",
             "TIPG_DEBUG": "false"},
            "/healthz", logdir, cwd=logdir)  # cwd: no stray .env read by tipg's settings
        servers.append(tipg)
        # gisgrid migrates to head before it listens: wait for it first, then look for its cache
        gisgrid.wait_ready(300)
        tipg.wait_ready(120)
        with engine.connect() as conn:
            cache = conn.execute(text("SELECT to_regclass('tile_cache') IS NOT NULL")).scalar_one()
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        print(f"gisgrid on :{gisgrid.port} (schema {head}), tipg on :{tipg.port}; gisgrid tile cache table: "
              f"{'present — cold and warm passes' if cache else 'ABSENT — one uncached pass only'}", flush=True)
        # signed in once gisgrid has migrated the database (the accounts and the principal function)
        callers.append(benchmark_caller(engine))
        if zone:
            callers.append(benchmark_caller(engine, f"benchmark-l1-{zone[1]}", "community_manager", zone[1]))
        for c in callers:
            print(f"gisgrid signed in as {c.username} ({c.role}, scope {c.scope_key}) with an API key of this run",
                  flush=True)

        def label(c: Caller) -> str:
            return f"{'admin' if c.role == 'admin' else 'manager'} {c.scope_key}"

        def sent(server: Server, c: Caller | None) -> dict:
            return {**headers, **c.headers} if server is gisgrid and c else headers

        def urls(server: Server, case: LayerCase) -> list[str]:
            if server is gisgrid:
                return [f"{server.base}/layers/{case.name}/tiles/{z}/{x}/{y}.mvt" for z, x, y in tiles[case.name]]
            query = str(httpx.QueryParams(case.tipg_query))
            return [f"{server.base}/collections/{case.tipg_collection}/tiles/WebMercatorQuad/{z}/{x}/{y}?{query}"
                    for z, x, y in tiles[case.name]]

        def truncate() -> None:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE tile_cache"))

        # media types, and a first look at errors, before anything is timed
        for case in cases:
            for server, c in ((gisgrid, callers[0]), (tipg, None)):
                response = httpx.get(urls(server, case)[0], headers=sent(server, c), timeout=120)
                if response.status_code != 200:
                    raise SystemExit(f"{server.name} {case.name}: {response.status_code} {response.text[:500]}")
                if response.headers.get("content-type", "").split(";")[0] != MVT_MEDIA_TYPE:
                    print(f"  note: {server.name} answers {response.headers.get('content-type')}")

        if not args.no_prime:
            start = time.perf_counter()
            for case in cases:
                for server, c in ((tipg, None), *((gisgrid, c) for c in callers)):
                    run_pass(Pass(server.name, case.name, "prime"), urls(server, case), args.concurrency,
                             sent(server, c), None, None)
            print(f"primed (both servers, every tile once, untimed): {time.perf_counter() - start:.0f} s", flush=True)
        if cache:
            truncate()

        gisgrid_kinds = ("cold", "warm") if cache else ("uncached",)
        for case in cases:
            # a round: tipg, then per caller gisgrid cold (cache truncated first) and warm
            runs = [(tipg, None, "-"), *((gisgrid, c, kind) for c in callers for kind in gisgrid_kinds)]
            results = {(c, kind): Pass(server.name, case.name, kind, label(c) if c else "-")
                       for server, c, kind in runs}
            for round_ in range(args.rounds):
                line = []
                for server, c, kind in runs:
                    if kind == "cold":
                        truncate()
                    p = results[c, kind]
                    before = (p.tiles, p.seconds)
                    run_pass(p, urls(server, case), args.concurrency, sent(server, c), server.proc.pid, db_pid)
                    who = f" ({p.caller})" if len(callers) > 1 and c else ""
                    line.append(f"{server.name}{who} {kind} {(p.tiles - before[0]) / (p.seconds - before[1]):.0f}")
                    if kind == "cold":
                        with engine.connect() as conn:
                            p.cached.append(conn.execute(text(
                                "SELECT count(*) FROM tile_cache WHERE split_part(layer, '@', 1) = :layer "
                                "AND split_part(layer, '|', 2) = :scope"),
                                {"layer": case.name, "scope": c.scope_key}).scalar_one())
                print(f"  {case.name} round {round_ + 1}, tiles/s: " + ", ".join(line), flush=True)
            passes.extend(results.values())
            if cache:
                for c in callers:
                    print(f"  {case.name}: tile_cache rows of scope {c.scope_key} after each cold pass: "
                          f"{results[c, 'cold'].cached} (of {len(tiles[case.name])} tiles)", flush=True)

            picked = tiles[case.name]
            checks = min(args.verify, len(picked))
            for i in range(checks):
                at = i * len(picked) // checks
                z, x, y = picked[at]
                counts = {}
                for name, server, c in (("gisgrid", gisgrid, callers[0]), ("tipg", tipg, None),
                                        *(("manager", gisgrid, c) for c in callers[1:])):
                    response = httpx.get(urls(server, case)[at], headers=sent(server, c), timeout=120)
                    try:
                        counts[name] = decode_count(response.content) if response.status_code == 200 else None
                    except Exception as exc:  # a tile that does not decode is what this is looking for
                        counts[name] = (f"decode error: {exc}", set())
                g, t, m = counts["gisgrid"], counts["tipg"], counts.get("manager")
                similar = (g and t and isinstance(g[0], int) and isinstance(t[0], int)
                           and abs(g[0] - t[0]) <= max(2, 0.1 * max(g[0], t[0])))
                verify_rows.append({"layer": case.name, "tile": f"{z}/{x}/{y}",
                                    "gisgrid features": g and g[0], "tipg features": t and t[0],
                                    "similar": "yes" if similar else "NO", "manager features": m and m[0],
                                    "gisgrid-only properties": ",".join(sorted(g[1] - t[1])) if g and t else ""})
    finally:
        for server in servers:
            server.stop()
        for c in callers:
            c.revoke(engine)
        if servers and all(s.proc.poll() is not None for s in servers):
            print(f"servers stopped (logs in {logdir})", flush=True)

    print()
    print("What each side computes per feature:")
    for case in cases:
        print(f"  {case.name:<10} gisgrid: {case.gisgrid_does}")
        print(f"  {'':<10} tipg:    {case.tipg_does}")
    print()
    sizes = sorted({len(t) for t in tiles.values()})
    listed = f"{args.tiles} tiles a layer" if sizes == [args.tiles] else \
        "each layer's list (" + ", ".join(f"{name} {len(t)}" for name, t in tiles.items()) + " tiles)"
    print(f"{args.rounds} rounds of {listed}, pooled:")
    print(table([p.row() for p in passes], ["layer", "server", "caller", "pass", "tiles", "200", "empty", "errors",
                                            "tiles/s",
                                            "p50 ms", "p95 ms", "KB/tile", "server cpu", "db cpu", "client cpu",
                                            "other cpu"]))
    print("(tiles/s: requests / wall time of the passes; p50/p95 over every request; KB/tile: mean body bytes of "
          "the 200s; cpu: ms per tile of the server's processes, of the whole PostgreSQL cluster, and of this "
          f"client, during the passes — {os.cpu_count()} CPUs shared by all three; other cpu: the rest of the machine in "
          "the same time, anything above a few tenths means someone else's work skewed the comparison)")
    for p in passes:
        for sample in p.error_samples:
            print(f"  error sample, {p.server} {p.layer} {p.kind}: {sample}")

    print()
    ratios, bars = [], []
    for case in cases:
        base = next(p for p in passes if p.layer == case.name and p.server == "tipg")
        ours = [p for p in passes if p.layer == case.name and p.server == "gisgrid"]
        for p in ours:
            ratio = p.rate / base.rate
            admin = ours[[q.kind for q in ours].index(p.kind)]   # the administrator's pass of this kind
            ratios.append({"layer": case.name, "caller": p.caller, "gisgrid pass": p.kind,
                           "tiles/s ratio": f"{ratio:.2f}",
                           "tiles/s vs admin": f"{p.rate / admin.rate:.2f}" if p is not admin else "",
                           "p50 ratio": f"{median(p.latencies) / median(base.latencies):.2f}",
                           "p95 ratio": f"{p.p(0.95) / base.p(0.95):.2f}",
                           "bytes ratio": f"{statistics.fmean(p.sizes) / statistics.fmean(base.sizes):.2f}"
                           if p.sizes and base.sizes and statistics.fmean(base.sizes) else ""})
            bar = {"cold": COLD_BAR, "uncached": COLD_BAR, "warm": WARM_BAR}[p.kind]
            bars.append(f"  {case.name:<10} {p.caller:<16} {p.kind:<8} {ratio:6.2f}x tipg  (bar >= {bar:.1f}x: "
                        f"{'met' if ratio >= bar else 'NOT met'})")
    print("gisgrid / tipg (tiles/s: above 1 is gisgrid faster; latency and bytes: below 1 is gisgrid smaller)")
    print(table(ratios, ["layer", "caller", "gisgrid pass", "tiles/s ratio", "p50 ratio", "p95 ratio", "bytes ratio",
                         *(["tiles/s vs admin"] if zone else [])]))
    print()
    print("Bars (issue): cold cache at least as fast as tipg (>= 1.0x tiles/s); with gisgrid's own tile cache "
          "at least 5x tipg" + ("" if cache else " — NOT MEASURED: no tile_cache table in this database; "
                                "the uncached pass stands in for the cold bar"))
    print("\n".join(bars))
    print()
    print(f"Decoded tiles (mapbox_vector_tile; gisgrid selects rows in the tile grown by {BUFFER}/{EXTENT}, "
          "tipg in the bare tile):")
    print(table(verify_rows, ["layer", "tile", "gisgrid features", "tipg features", "similar",
                              *(["manager features"] if zone else []), "gisgrid-only properties"]))
    print(f"\nclient peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
