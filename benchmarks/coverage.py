"""Benchmark: coverage analysis of one sub-district and of the whole city, with peak memory.

    .venv/bin/python benchmarks/coverage.py [--database-url URL] [--repeat 5] [--city-repeat 3]

Bars (issue 3): one sub-district under 0.5 s, the whole city under 10 s. Peak memory is this
process's peak RSS after each phase (the database server's memory is its own). For scale it also
times the baseline the issue names: a plain union of all grid polygons in PostGIS, and GEOS's
coverage union in shapely on the same polygons.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import geopandas  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gisgrid.coverage.service import Scope, analyse  # noqa: E402

from common import database_arg, engine_from, median, peak_rss_mb, repeat, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--city-repeat", type=int, default=3)
    args = parser.parse_args()
    engine = engine_from(args)
    with Session(engine) as session:
        subdistricts = session.execute(text("SELECT count(*) FROM subdistricts")).scalar_one()
        first = session.execute(text("SELECT min(code) FROM subdistricts")).scalar_one()
        grids = session.execute(text("SELECT count(*) FROM grids")).scalar_one()
        rows = []
        one = repeat(lambda: analyse(session, Scope(subdistrict=first)), args.repeat)
        one_rss = peak_rss_mb()
        report = analyse(session, Scope())
        city = repeat(lambda: analyse(session, Scope()), args.city_repeat)
        rows.append({"what": f"coverage of one sub-district ({first})", "median_s": median(one),
                     "runs": len(one), "bar_s": 0.5, "peak_rss_mb": one_rss})
        rows.append({"what": f"coverage of the city ({subdistricts} sub-districts, {grids:,} grids)",
                     "median_s": median(city), "runs": len(city), "bar_s": 10.0, "peak_rss_mb": peak_rss_mb()})
        union = repeat(lambda: session.execute(text("SELECT ST_Area(ST_Union(geom)) FROM grids WHERE level = 2")).scalar(),
                       args.city_repeat)
        rows.append({"what": "baseline: ST_Union of all L2 grids (PostGIS)", "median_s": median(union),
                     "runs": len(union)})
        polygons = geopandas.read_postgis("SELECT geom FROM grids WHERE level = 2", session.connection(),
                                          geom_col="geom").geometry.values
        coverage = repeat(lambda: shapely.coverage_union_all(polygons), args.city_repeat)
        rows.append({"what": "baseline: shapely coverage_union_all of all L2 grids", "median_s": median(coverage),
                     "runs": len(coverage)})
    print(table(rows, ["what", "median_s", "runs", "bar_s", "peak_rss_mb"]))
    print(f"city defects: {report.summary['defects']}")
    print(f"ratio city coverage / plain union: {median(city) / median(union):.2f}x")
    print(f"peak RSS of this process: {peak_rss_mb():,.0f} MB (the database's own memory is not included)")


if __name__ == "__main__":
    main()
