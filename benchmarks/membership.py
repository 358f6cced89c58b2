"""Benchmark: re-assigning every building to its grids, in PostGIS vs a geopandas round trip,
and the everyday case of refreshing membership after a one-grid edit.

    .venv/bin/python benchmarks/membership.py [--database-url URL] [--repeat 3] [--edits 20]

Run it on a city-scale database (``gisgrid demo --sub-districts 200 --no-residents --load-only``).
Both full paths start from cleared membership and must produce identical assignments; each
path runs inside a transaction that is rolled back, so the data is left as it was.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import geopandas  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gisgrid.core.database import set_change_context  # noqa: E402
from gisgrid.grids import membership  # noqa: E402

from common import database_arg, engine_from, median, peak_rss_mb, stopwatch, table  # noqa: E402

CLEAR = "UPDATE buildings SET grid_l1_id = NULL, grid_l2_id = NULL, grid_l3_id = NULL"
RESULT = "SELECT id, grid_l1_id, grid_l2_id, grid_l3_id FROM buildings ORDER BY id"


def postgis_full(session: Session) -> None:
    membership.refresh(session)


def geopandas_full(session: Session) -> None:
    """Read both layers, sjoin per level (smaller code wins on shared borders, below L1 among the
    descendants of the nearest grid chosen above), write back."""
    conn = session.connection()
    buildings = geopandas.read_postgis("SELECT id, geom FROM buildings", conn, geom_col="geom")
    grids = geopandas.read_postgis("SELECT id, level, code, geom FROM grids", conn, geom_col="geom")
    out = pd.DataFrame({"id": buildings["id"]})
    above = pd.Series(dtype=object)  # building id → code of the nearest grid chosen so far
    for level in (1, 2, 3):
        layer = grids[grids["level"] == level]
        hits = geopandas.sjoin(buildings, layer, predicate="covered_by", how="inner")
        ancestor = hits["id_left"].map(above)
        inside = [pd.isna(a) or code.startswith(a) for code, a in zip(hits["code"], ancestor, strict=True)]
        hits = hits[inside].sort_values(["id_left", "code"]).drop_duplicates("id_left")
        above = pd.concat([above.drop(hits["id_left"], errors="ignore"),
                           pd.Series(hits["code"].to_numpy(), index=hits["id_left"].to_numpy())])
        out = out.merge(hits[["id_left", "id_right"]].rename(
            columns={"id_left": "id", "id_right": f"l{level}"}), on="id", how="left")
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE fresh (id int, l1 int, l2 int, l3 int) ON COMMIT DROP")
        buffer = io.StringIO()
        out.astype({"l1": "Int64", "l2": "Int64", "l3": "Int64"}).to_csv(buffer, index=False, header=False, na_rep="")
        with cur.copy("COPY fresh FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        cur.execute("""UPDATE buildings b SET grid_l1_id = f.l1, grid_l2_id = f.l2, grid_l3_id = f.l3
                       FROM fresh f WHERE f.id = b.id""")


def run_full(engine, path, repeat: int) -> tuple[list[float], list]:
    samples, result = [], None
    for _ in range(repeat):
        with Session(engine) as session:
            session.execute(text(CLEAR))
            with stopwatch(samples):
                path(session)
            result = session.execute(text(RESULT)).all()
            session.rollback()
    return samples, result


def one_grid_edits(engine, edits: int) -> tuple[list[float], list[int]]:
    """Grow a random L3 grid by 5 m, refresh the changed area only; time the refresh."""
    samples, touched = [], []
    with Session(engine) as session:
        codes = session.execute(text(
            "SELECT code FROM grids WHERE level = 3 ORDER BY md5(code) LIMIT :n"), {"n": edits}).scalars().all()
    for code in codes:
        with Session(engine) as session:
            set_change_context(session, actor="benchmark", reason="benchmark edit", operation="reshape")
            area = session.execute(text("""
                WITH old AS (SELECT id, geom FROM grids WHERE code = :c),
                new AS (SELECT ST_Multi(ST_Transform(ST_Buffer(ST_Transform(geom, 32648), 5), 4326)) AS geom FROM old),
                upd AS (UPDATE grids g SET geom = new.geom, version = version + 1 FROM new, old
                        WHERE g.id = old.id RETURNING g.id)
                SELECT ST_AsEWKT(ST_Union(old.geom, new.geom)) FROM old, new
            """), {"c": code}).scalar_one()
            with stopwatch(samples):
                changed = membership.refresh(session, area_ewkt=area)
            touched.append(changed["buildings"])
            session.rollback()
    return samples, touched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    engine = engine_from(args)
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM grids)")).one()
    print(f"buildings {counts[0]:,}  grids {counts[1]:,}")

    postgis, postgis_result = run_full(engine, postgis_full, args.repeat)
    gpd, gpd_result = run_full(engine, geopandas_full, args.repeat)
    same = postgis_result == gpd_result
    edit_times, touched = one_grid_edits(engine, args.edits)
    rows = [
        {"path": "PostGIS (in-database)", "median_s": median(postgis), "runs": len(postgis),
         "per_s": counts[0] / median(postgis)},
        {"path": "geopandas round trip", "median_s": median(gpd), "runs": len(gpd),
         "per_s": counts[0] / median(gpd)},
    ]
    print(table(rows, ["path", "median_s", "runs", "per_s"]))
    print(f"ratio geopandas / PostGIS: {median(gpd) / median(postgis):.2f}x   identical results: {same}")
    print(f"one-grid edit refresh: median {median(edit_times) * 1000:.1f} ms, "
          f"max {max(edit_times) * 1000:.1f} ms over {len(edit_times)} edits; "
          f"buildings changed per edit: median {int(np.median(touched))}, max {max(touched)}")
    print(f"peak RSS of this process: {peak_rss_mb():,.0f} MB")
    if not same:
        sys.exit("the two paths disagree")


if __name__ == "__main__":
    main()
