"""Benchmark: /lookup throughput and latency under concurrent load, next to the same SQL run
directly with pgbench (the database's own ceiling on this machine).

    .venv/bin/python benchmarks/lookup.py [--database-url URL] [--workers 2] [--seconds 20] [--repeat 3]

Starts ``gisgrid serve`` on a free local port, drives it with wrk (random points over the
data's extent) for the throughput and latency at saturation, with hey at a fixed 500 requests/s
for the latency at that rate, and runs pgbench with the lookup SQL on random points.
Needs Debian's wrk, hey and pgbench (postgresql-client). Bars (issue 3): at least 1,500
requests/s, and p99 under 20 ms at 500 requests/s.

/lookup answers signed-in callers only: every request carries the API key of a city-wide
benchmark administrator made in the database once gisgrid has migrated it
(``common.benchmark_caller``; a fresh key each run, revoked at the end), so each request also
resolves the key (one prepared call of ``gisgrid_principal``) — a cost pgbench's figure leaves out.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from gisgrid.grids.service import LOOKUP  # noqa: E402

from common import benchmark_caller, database_arg, engine_from, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gisgrid"), "serve", "--port", str(port), "--workers", str(workers),
         "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def wrk(port: int, extent, seconds: int, connections: int, headers: dict) -> dict:
    west, south, east, north = extent
    lua_headers = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f"""
math.randomseed(42)
local headers = {{{lua_headers}}}
request = function()
  local lon = {west} + math.random() * ({east - west})
  local lat = {south} + math.random() * ({north - south})
  return wrk.format("GET", string.format("/lookup?lon=%.6f&lat=%.6f", lon, lat), headers)
end
""")
        script.flush()
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name,
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "errors": int(errors.group(1)) if errors else 0}


def hey(port: int, lon: float, lat: float, seconds: int, rate: int, headers: dict) -> dict:
    # hey paces each worker with its own ticker and they fire in step: 10 workers at rate/10
    # each is a steady stream, where 50 workers would arrive as bursts of 50.
    workers = 10
    out = subprocess.run(["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(rate / workers),
                          *(a for k, v in headers.items() for a in ("-H", f"{k}: {v}")),
                          f"http://127.0.0.1:{port}/lookup?lon={lon}&lat={lat}"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000
    statuses, _, failures = out.partition("Error distribution:")
    errors = (sum(int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", statuses) if code != "200")
              + sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]", failures, re.M)))
    return {"rps": rps, "p50": f"{p50:.2f}ms", "p99": f"{p99:.2f}ms", "errors": errors}


def pgbench(url: str, extent, seconds: int, clients: int) -> dict:
    west, south, east, north = extent
    sql = LOOKUP.replace("%(lon)s", ":lon_v").replace("%(lat)s", ":lat_v")
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    script.write(
        f"\\set x random(0, 1000000)\n\\set y random(0, 1000000)\n"
        f"\\set lon_v {west} + :x * {(east - west) / 1e6}\n"
        f"\\set lat_v {south} + :y * {(north - south) / 1e6}\n"
        + " ".join(sql.split()) + ";\n"
    )
    script.close()
    out = subprocess.run(["pgbench", "-n", "-f", script.name, "-c", str(clients), "-j", "2", "-T", str(seconds),
                          "-M", "prepared", url], capture_output=True, text=True)
    tps = re.search(r"tps = ([\d.]+)", out.stdout)
    if not tps:
        raise SystemExit(f"pgbench failed: {out.stderr[-2000:]}")
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1)
    return {"rps": float(tps.group(1)), "p50": f"{latency}ms (avg)", "p99": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs; the median is reported")
    args = parser.parse_args()
    engine = engine_from(args)
    url = engine.url.render_as_string(hide_password=False)
    libpq_url = url.replace("postgresql+psycopg://", "postgresql://")
    with engine.connect() as conn:
        extent = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM grids) x"
        )).one()
        point = conn.execute(text(
            "SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE grid_l3_id IS NOT NULL ORDER BY id LIMIT 1")).one()
    port = free_port()
    server = start_server(url, port, args.workers)
    caller = None
    try:
        caller = benchmark_caller(engine)  # the server has migrated the database by now
        print(f"signed in as {caller.username} ({caller.role}, scope {caller.scope_key}) with an API key of this run")
        runs = sorted((wrk(port, extent, args.seconds, args.connections, caller.headers) for _ in range(args.repeat)),
                      key=lambda r: r["rps"])
        print("wrk runs (requests/s): " + ", ".join(f"{r['rps']:,.0f}" for r in runs))
        rows = [
            {"what": f"/lookup, wrk saturation ({args.connections} connections, median of {args.repeat})",
             **runs[len(runs) // 2]},
            {"what": "/lookup, hey at 500 requests/s", **hey(port, *point, args.seconds, 500, caller.headers)},
        ]
    finally:
        server.terminate()
        server.wait(10)
        if caller:
            caller.revoke(engine)
    rows.append({"what": "same SQL, pgbench (8 clients, prepared)", **pgbench(libpq_url, extent, args.seconds, 8)})
    print(table(rows, ["what", "rps", "p50", "p99", "errors"]))
    print(f"ratio HTTP / database ceiling: {rows[0]['rps'] / rows[2]['rps']:.2f}")


if __name__ == "__main__":
    main()
