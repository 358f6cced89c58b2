"""Benchmark: generating and loading the demo sub-district and a city.

    /usr/bin/time -v .venv/bin/python benchmarks/generate.py --scale demo
    /usr/bin/time -v .venv/bin/python benchmarks/generate.py --scale city      # 200 sub-districts

Each run loads into a fresh database (``--database-url``, which is emptied, or a new embedded
cluster in a temporary folder) and prints rows per table, seconds per phase, rows per second
and the peak memory of this process (run it under /usr/bin/time -v for the same figure from the
kernel). At city scale residents and cases are left out: a household carries its member count.
``--repeat`` runs the whole thing several times and reports medians.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import psycopg  # noqa: E402

from gisgrid.core import migrate  # noqa: E402
from gisgrid.core.database import engine_for, normalise_url  # noqa: E402
from gisgrid.core.embedded import Cluster  # noqa: E402
from gisgrid.demo.generator import DemoConfig, generate  # noqa: E402
from gisgrid.demo.loader import load  # noqa: E402

from common import median, peak_rss_mb, table  # noqa: E402

SCALES = {
    "demo": DemoConfig(),
    "city": DemoConfig(sub_districts=200, residents=False, cases=False),
}


def fresh_database(url: str) -> None:
    plain = url.replace("+psycopg", "")
    name = plain.rsplit("/", 1)[1]
    with psycopg.connect(plain.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(url)


def run(url: str, config: DemoConfig, progress: bool) -> dict:
    fresh_database(url)
    engine = engine_for(url)
    started = time.perf_counter()
    data = generate(config)
    generated = time.perf_counter()
    counts = load(engine, data, progress=progress)
    loaded = time.perf_counter()
    engine.dispose()
    return {"generate_s": generated - started, "load_s": loaded - generated, "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=SCALES, default="demo")
    parser.add_argument("--sub-districts", type=int, help="override the city's sub-district count")
    parser.add_argument("--database-url", help="a disposable database (it is dropped and re-created)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    config = SCALES[args.scale]
    if args.sub_districts:
        config = DemoConfig(sub_districts=args.sub_districts, residents=False, cases=False)

    home = None
    if args.database_url:
        url = normalise_url(args.database_url)
    else:
        home = Path(tempfile.mkdtemp(prefix="gisgrid-bench-"))
        home.chmod(0o755)
        cluster = Cluster(home / ".gisgrid")
        cluster.up()
        url = cluster.url("gisgrid_bench")
    try:
        runs = [run(url, config, args.progress) for _ in range(args.repeat)]
    finally:
        if home:
            cluster.down()
            shutil.rmtree(home, ignore_errors=True)

    counts = runs[-1]["counts"]
    rows = sum(counts.values())
    gen, ld = median([r["generate_s"] for r in runs]), median([r["load_s"] for r in runs])
    print(table([{"table": t, "rows": n} for t, n in counts.items()], ["table", "rows"]))
    print()
    print(table([
        {"phase": "generate", "median_s": gen, "rows_per_s": rows / gen},
        {"phase": "load (COPY + membership + ANALYZE)", "median_s": ld, "rows_per_s": rows / ld},
        {"phase": "total", "median_s": gen + ld, "rows_per_s": rows / (gen + ld)},
    ], ["phase", "median_s", "rows_per_s"]))
    print(f"\nscale {args.scale}: {config.sub_districts} sub-district(s), {rows:,} rows, "
          f"{len(runs)} run(s); peak RSS of this process {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
