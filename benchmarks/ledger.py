"""Benchmark (issue 16): keeping the ledger current at city scale — single-record changes,
household moves and ends through the HTTP API from several concurrent editors.

    GISGRID_HOME=/tmp/gisgrid-ledgerbench .venv/bin/python benchmarks/ledger.py [--database-url URL]
        [--clients 8] [--workers 2] [--changes 400] [--moves 200] [--ends 200] [--residents 2]
        [--repeat 3] [--seed 16] [--ops change,move,end]

Prerequisite (the script does not build the city itself; it stops and prints this when the
database holds no buildings): a city from the demo generator, e.g. in a cluster of its own,

    GISGRID_HOME=/tmp/gisgrid-ledgerbench .venv/bin/gisgrid db up
    GISGRID_HOME=/tmp/gisgrid-ledgerbench nice -n 19 .venv/bin/python benchmarks/generate.py --scale city \\
        --database-url "$(GISGRID_HOME=/tmp/gisgrid-ledgerbench .venv/bin/python -c \\
        'from gisgrid.core.database import database_url; print(database_url())')"

(200 sub-districts, ~325,000 buildings, ~5 million households; no residents at city scale).

What runs: ``gisgrid serve --workers N`` (real uvicorn in its own process group, the overdue
sweep off so nothing else writes; the server migrates the database to head first), and every
request carries the API key of a city-wide benchmark administrator (``common.benchmark_caller``,
revoked at the end). Each run samples current households afresh (``--seed`` + run number) and
sends three passes from ``--clients`` threads (httpx, keep-alive), each job an editor's round
trip: ``GET /households/{id}`` for the ETag, then the write with ``If-Match`` and a fresh
``Idempotency-Key``, as a form submission sends it; only the write is in the write figures.

* change — ``PATCH /households/{id}`` of ``member_count`` (±1: a birth, a death), the
  single-record change the bar is about; the building's and grids' loads follow in the same
  transaction (the triggers of migration 0008);
* move — ``POST /households/{id}/move`` to a free flat of another building (one flat per target
  building, found in SQL from the building's 单元 × floors × flats, so no two moves race for it);
* end — ``POST /households/{id}/end`` (moved out), which ends its residents with it.

Residents: the city has none, so before the end pass each household to be ended gets
``--residents`` residents registered through the API (``POST /residents``, untimed setup); the
change and move passes edit households only. Every pass is checked: each write must answer
200, and afterwards the database must show each moved household at its new flat, each ended
one ended with its residents. One uncounted warm-up of changes precedes the first run.

Reported per pass: requests/s, p50 / p99 of the write (and p50 of the GET), the mean number of
the server's transactions waiting for the tile-cache lock (the advisory lock every change to
mapped data holds until it commits, migration 0007; sampled from ``pg_stat_activity`` every
20 ms: near 0 means the writes do not queue on it), and CPU per round trip (GET + write) of the
server's processes, of the PostgreSQL cluster and of this client (from /proc): all three share
the machine's cores. Then per operation the medians over ``--repeat`` runs, and the ratio of the
change's p99 to the bar (p99 under 100 ms with 8 concurrent editors at city scale; under 1 meets
it). THE RUNS CHANGE THE DATABASE (new versions, moved and ended households, new residents):
use a benchmark database.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from common import (  # noqa: E402
    Caller,
    Server,
    benchmark_caller,
    cluster_cpu,
    database_arg,
    engine_from,
    median,
    neighbours,
    postmaster_pid,
    quantile,
    self_cpu,
    table,
    tree_cpu,
)

ROOT = Path(__file__).resolve().parents[1]
BAR_S = 0.100
OPS = ("change", "move", "end")
REASON = "基准测试 / benchmark"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Pass:
    """One pass of editor round trips from a thread pool: write and read latencies, statuses, CPU."""

    name: str
    writes: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    status: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    client_cpu: float = 0.0
    waiting: list[int] = field(default_factory=list)

    def run(self, client: httpx.Client, jobs: list, write: Callable, clients: int, server_pid: int,
            db_pid: int | None, engine) -> Pass:
        """``write(client, job, record, etag)`` sends the write and returns the response."""
        lock = threading.Lock()

        def one(job) -> None:
            began = time.perf_counter()
            read = client.get(f"/households/{job['id']}")
            read_s = time.perf_counter() - began
            if read.status_code != 200:
                with lock:
                    self.status[f"GET {read.status_code}"] += 1
                    self._sample(f"GET {read.status_code}: {read.text[:300]}")
                return
            began = time.perf_counter()
            response = write(client, job, read.json(), read.headers["ETag"])
            spent = time.perf_counter() - began
            with lock:
                self.reads.append(read_s)
                self.writes.append(spent)
                self.status[response.status_code] += 1
                if response.status_code != 200:
                    self._sample(f"{response.status_code}: {response.text[:300]}")

        done = threading.Event()
        sampler = threading.Thread(target=self._sample_waiters, args=(engine, done))
        app0, db0, me0 = tree_cpu(server_pid), cluster_cpu(db_pid), self_cpu()
        began = time.perf_counter()
        sampler.start()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, jobs))
        self.seconds = time.perf_counter() - began
        done.set()
        sampler.join()
        self.server_cpu = tree_cpu(server_pid) - app0
        self.db_cpu = cluster_cpu(db_pid) - db0 if db_pid else float("nan")
        self.client_cpu = self_cpu() - me0
        return self

    def _sample_waiters(self, engine, done: threading.Event) -> None:
        """Every 20 ms: how many of the server's transactions wait for the tile-cache lock (the
        advisory lock every change to mapped data takes until it commits, migration 0007)."""
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_has_role('pg_read_all_stats', 'member')")).scalar():
                return  # other roles' wait events are hidden from this one: no figure (nan)
            while not done.wait(0.02):
                self.waiting.append(conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' "
                    "AND datname = current_database()")).scalar())
                conn.rollback()

    def _sample(self, error: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(error)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.status.items() if status != 200)

    def figures(self) -> dict:
        n = max(len(self.writes), 1)
        return {"req/s": len(self.writes) / self.seconds, "p50 ms": 1000 * median(self.writes),
                "p99 ms": 1000 * quantile(self.writes, 0.99), "max ms": 1000 * max(self.writes),
                "GET p50 ms": 1000 * median(self.reads),
                "lock waiters": sum(self.waiting) / len(self.waiting) if self.waiting else float("nan"),
                "server cpu ms": 1000 * self.server_cpu / n,
                "db cpu ms": 1000 * self.db_cpu / n, "client cpu ms": 1000 * self.client_cpu / n}


def _headers(etag: str) -> dict[str, str]:
    return {"If-Match": etag, "Idempotency-Key": str(uuid.uuid4())}


def change(client: httpx.Client, job: dict, record: dict, etag: str) -> httpx.Response:
    size = record["member_count"]
    return client.patch(f"/households/{job['id']}", headers=_headers(etag),
                        json={"member_count": size + 1 if size < 6 else size - 1, "reason": REASON})


def move(client: httpx.Client, job: dict, record: dict, etag: str) -> httpx.Response:
    return client.post(f"/households/{job['id']}/move", headers=_headers(etag),
                       json={**job["to"], "reason": REASON})


def end(client: httpx.Client, job: dict, record: dict, etag: str) -> httpx.Response:
    return client.post(f"/households/{job['id']}/end", headers=_headers(etag),
                       json={"ended_on": job["on"], "end_reason": "moved_out", "reason": REASON})


WRITES = {"change": change, "move": move, "end": end}


# --- what each run edits -----------------------------------------------------------------------

def sample_households(engine, count: int, seed: int, exclude: set[int]) -> list[int]:
    """``count`` current households at random over the city (TABLESAMPLE, then shuffled)."""
    with engine.connect() as conn:
        estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'all_households'")).scalar()
        share = min(100.0, 100.0 * 3 * (count + len(exclude)) / max(estimate or 1, 1))
        ids = conn.execute(text(f"""SELECT id FROM all_households TABLESAMPLE BERNOULLI ({share}) REPEATABLE (:seed)
                                    WHERE ended_on IS NULL"""), {"seed": seed}).scalars().all()
    ids = [i for i in ids if i not in exclude]
    random.Random(seed).shuffle(ids)
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} current households sampled for {count}: a smaller pass, or a bigger city")
    return ids[:count]


def free_flats(engine, count: int, seed: int) -> list[dict]:
    """One free flat in each of ``count`` random residential buildings (a move's far end)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        rows = conn.execute(text("""
            WITH b AS (SELECT id, entrances, floors, flats_per_floor FROM buildings
                       WHERE use IN ('residential', 'mixed') AND flats_per_floor > 0 ORDER BY random() LIMIT :n)
            SELECT DISTINCT ON (b.id) b.id AS building_id, e AS entrance, f AS floor,
                   f::text || lpad(r::text, 2, '0') AS room
            FROM b, generate_series(1, b.entrances) e, generate_series(1, b.floors) f,
                 generate_series(1, b.flats_per_floor) r
            WHERE NOT EXISTS (SELECT 1 FROM households h WHERE h.building_id = b.id AND h.entrance = e
                              AND h.floor = f AND h.room = f::text || lpad(r::text, 2, '0'))
            ORDER BY b.id, random()"""), {"n": count * 2}).mappings().all()
    flats = [dict(r) for r in rows]
    random.Random(seed).shuffle(flats)
    if len(flats) < count:
        raise SystemExit(f"only {len(flats)} free flats found for {count} moves")
    return flats[:count]


def add_residents(client: httpx.Client, households: list[int], per_household: int, clients: int) -> None:
    """Setup of the end pass, untimed: the city has no residents, so the households to be ended
    get some through the API (they are ended with their household)."""
    rng = random.Random(households[0] if households else 0)

    def register(household: int) -> None:
        for k in range(per_household):
            response = client.post("/residents", json={
                "household_id": household, "name": f"基准{household % 1000}{k}", "sex": rng.choice("MF"),
                "birth_year": rng.randint(1940, 2020), "relation": "户主" if k == 0 else "家属", "reason": REASON})
            if response.status_code != 201:
                raise SystemExit(f"setup: POST /residents answered {response.status_code}: {response.text[:300]}")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(register, households))


def check(engine, jobs: dict[str, list[dict]]) -> list[str]:
    """What the database must show after a run: moved households at their flat, ended ones
    ended with all their residents."""
    problems = []
    with engine.connect() as conn:
        for job in jobs.get("move", []):
            at = conn.execute(text("SELECT building_id, entrance, floor, room FROM all_households WHERE id = :h"),
                              {"h": job["id"]}).mappings().one()
            if dict(at) != job["to"]:
                problems.append(f"household {job['id']} is at {dict(at)}, not {job['to']}")
        ended = [job["id"] for job in jobs.get("end", [])]
        if ended:
            row = conn.execute(text("""
                SELECT count(*) FILTER (WHERE h.ended_on IS NULL) AS open_households,
                       (SELECT count(*) FROM all_residents r WHERE r.household_id = ANY(:ids) AND r.ended_on IS NULL)
                         AS open_residents,
                       (SELECT count(*) FROM all_residents r WHERE r.household_id = ANY(:ids)) AS residents
                FROM all_households h WHERE h.id = ANY(:ids)"""), {"ids": ended}).mappings().one()
            if row["open_households"] or row["open_residents"]:
                problems.append(f"after the end pass {row['open_households']} households and "
                                f"{row['open_residents']} of {row['residents']} residents are still current")
    return problems


# --- the whole benchmark -----------------------------------------------------------------------

def profile(engine) -> dict:
    with engine.connect() as conn:
        counts = {name: conn.execute(text(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{name}'")).scalar()
                  for name in ("all_buildings", "all_households", "all_residents", "grids")}
        counts["subdistricts"] = conn.execute(text("SELECT count(*) FROM subdistricts")).scalar()
        counts["tiles cached"] = conn.execute(text("SELECT count(*) FROM tile_cache")).scalar()
    return counts


def run_once(engine, client: httpx.Client, args, number: int, server: Server, db_pid: int | None,
             used: set[int]) -> tuple[dict[str, Pass], list[str]]:
    seed = args.seed + number
    sizes = {"change": args.changes, "move": args.moves, "end": args.ends}
    ops = [op for op in OPS if op in args.ops]
    ids = sample_households(engine, sum(sizes[op] for op in ops), seed, used)
    used.update(ids)
    jobs: dict[str, list[dict]] = {}
    for op in ops:
        jobs[op], ids = [{"id": i} for i in ids[:sizes[op]]], ids[sizes[op]:]
    if "move" in jobs:
        for job, flat in zip(jobs["move"], free_flats(engine, len(jobs["move"]), seed), strict=True):
            job["to"] = flat
    if "end" in jobs:
        on = datetime.now(SHANGHAI).date().isoformat()
        for job in jobs["end"]:
            job["on"] = on
        add_residents(client, [job["id"] for job in jobs["end"]], args.residents, args.clients)
    passes = {}
    for op in ops:
        passes[op] = Pass(f"run {number + 1}: {op}").run(client, jobs[op], WRITES[op], args.clients,
                                                         server.proc.pid, db_pid, engine)
        print(f"  {passes[op].name}: {len(passes[op].writes)} writes, p99 "
              f"{passes[op].figures()['p99 ms']:.0f} ms, {passes[op].errors} errors ({neighbours()})", flush=True)
    return passes, check(engine, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--clients", type=int, default=8, help="concurrent editors (client threads)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--changes", type=int, default=400, help="single-record changes per run")
    parser.add_argument("--moves", type=int, default=200, help="household moves per run")
    parser.add_argument("--ends", type=int, default=200, help="household ends per run")
    parser.add_argument("--residents", type=int, default=2, help="residents registered (setup) per ended household")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians over them")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--ops", default=",".join(OPS), help="which passes, comma-separated")
    args = parser.parse_args()
    args.ops = {op for op in args.ops.split(",") if op}
    if args.ops - set(OPS):
        raise SystemExit(f"--ops: unknown {', '.join(sorted(args.ops - set(OPS)))} (known: {', '.join(OPS)})")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # a plain kill still stops the server (finally)

    engine = engine_from(args)
    with engine.connect() as conn:
        if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM households)")).scalar():
            raise SystemExit("the database holds no city: run first\n  GISGRID_HOME=... .venv/bin/python "
                             "benchmarks/generate.py --scale city --database-url URL   (see this script's docstring)")
        db_pid = postmaster_pid(conn)
        versions = conn.execute(text("SELECT version(), postgis_lib_version()")).one()
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "gisgrid", "migrations"],
                           capture_output=True, text=True).stdout.count("\n")
    print(f"database {engine.url.render_as_string(hide_password=True)} ({versions[0].split(',')[0]}, PostGIS "
          f"{versions[1]}); code {head}{f' + {dirty} uncommitted files in gisgrid/, migrations/' if dirty else ''}; "
          f"{os.cpu_count()} CPUs; {neighbours()}", flush=True)
    print("data: " + ", ".join(f"{k} {v:,}" for k, v in profile(engine).items()) + " (tables: estimates)", flush=True)

    logdir = Path(tempfile.mkdtemp(prefix="gisgrid-ledger-bench-"))
    env = {**os.environ, "GISGRID_CASE_SWEEP_SECONDS": "0"}
    if args.database_url:
        env["GISGRID_DATABASE_URL"] = args.database_url
    server = Server("gisgrid-serve", [str(ROOT / ".venv/bin/gisgrid"), "serve", "--port", "{port}", "--workers",
                                      str(args.workers), "--no-access-log"], env, "/health", logdir, cwd=ROOT)
    caller: Caller | None = None
    runs: list[dict[str, Pass]] = []
    problems: list[str] = []
    try:
        server.wait_ready(120)
        caller = benchmark_caller(engine)  # the server has migrated the database by now
        limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
        with httpx.Client(base_url=server.base, limits=limits, headers=caller.headers, timeout=120) as client:
            used: set[int] = set()
            warm = sample_households(engine, 4 * args.clients, args.seed - 1, used)
            used.update(warm)
            Pass("warm-up").run(client, [{"id": i} for i in warm], change, args.clients, server.proc.pid, db_pid,
                                engine)
            print(f"{args.repeat} run(s) from {args.clients} clients to {args.workers} workers as {caller.username} "
                  f"({caller.role}, scope {caller.scope_key}) ...", flush=True)
            for number in range(args.repeat):
                passes, found = run_once(engine, client, args, number, server, db_pid, used)
                runs.append(passes)
                problems += [f"run {number + 1}: {p}" for p in found]
    finally:
        server.stop()
        if caller:
            caller.revoke(engine)

    columns = ["req/s", "p50 ms", "p99 ms", "max ms", "GET p50 ms", "lock waiters", "server cpu ms", "db cpu ms", "client cpu ms"]
    rows = [{"pass": p.name, "writes": len(p.writes), "errors": p.errors, **p.figures()}
            for passes in runs for p in passes.values()]
    print(f"\nevery pass ({args.clients} clients, {args.workers} uvicorn workers; latency of the write, CPU per round "
          "trip: GET + write):")
    print(table(rows, ["pass", "writes", "errors", *columns]))
    medians = []
    for op in (op for op in OPS if op in args.ops):
        figures = [passes[op].figures() for passes in runs]
        row = {"operation": op, "runs": len(figures), **{c: median([f[c] for f in figures]) for c in columns}}
        row["p99 range ms"] = f"{min(f['p99 ms'] for f in figures):.0f}..{max(f['p99 ms'] for f in figures):.0f}"
        medians.append(row)
    print(f"\nmedians over {len(runs)} run(s):")
    print(table(medians, ["operation", "runs", *columns, "p99 range ms"]))
    for passes in runs:
        for p in passes.values():
            for sample in p.samples:
                print(f"  error sample ({p.name}): {sample}")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    if not problems:
        print("  database check: every moved household at its new flat, every ended one ended with its residents")
    changed = next((row for row in medians if row["operation"] == "change"), None)
    if changed:
        ratio = changed["p99 ms"] / (1000 * BAR_S)
        print(f"\nbar: single-record change p99 {changed['p99 ms']:.1f} ms with {args.clients} concurrent editors, "
              f"{ratio:.2f} x the bar of {1000 * BAR_S:.0f} ms -> {'MET' if ratio < 1 else 'MISSED'} ({neighbours()})")
    errors = sum(p.errors for passes in runs for p in passes.values())
    if errors or problems:
        raise SystemExit(f"{errors} failed writes, {len(problems)} failed checks")


if __name__ == "__main__":
    main()
