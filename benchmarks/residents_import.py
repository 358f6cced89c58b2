"""Benchmark (issue 15): 60,000 residents in one Excel sheet through ``gisgrid import residents``,
then ``--update`` of the same sheet with 1 % of its rows changed (a third moved, a third with a
new phone, a third new people). Bar: under 60 s and under 20 s on the 2-core machine.

    GISGRID_HOME=/tmp/gisgrid-residents .venv/bin/python benchmarks/residents_import.py
        [--database-url URL] [--residents 60000] [--buildings 1500]

The script makes its own sub-district (code 510199901) of ``--buildings`` buildings (6 floors,
2 entrances, 2 flats a floor) in SQL the first time; each run first takes that sub-district's
residents and households away again, so every run loads the same sheet into the same state.
Times are wall clock for ``import_file`` plus the commit, the sheet's reading (openpyxl through
pandas) shown on its own.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import database_arg, engine_from, peak_rss_mb, table  # noqa: E402

SD = "510199901"
HEADERS = ["姓名", "性别", "公民身份号码", "联系电话", "地址", "与户主关系", "户籍类型", "党员", "重点人群"]


def territory(engine, buildings: int) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM subdistricts WHERE code = :c"), {"c": SD}).first():
            return
        conn.execute(text("SELECT set_config('gisgrid.reason', 'residents benchmark', true)"))
        conn.execute(text("""
            INSERT INTO subdistricts (code, name, county, city, boundary)
            VALUES (:c, '基准街道', '基准区', '基准市',
                    ST_Multi(ST_MakeEnvelope(104.00, 30.60, 104.04, 30.64, 4326)))"""), {"c": SD})
        conn.execute(text("""
            INSERT INTO buildings (subdistrict_code, name, address, floors, entrances, flats_per_floor, use, geom)
            SELECT :c, '基准路' || n || '号', '基准路' || n || '号', 6, 2, 2, 'residential',
                   ST_SetSRID(ST_MakePoint(104.001 + (n % 40) * 0.00095, 30.601 + (n / 40) * 0.00095), 4326)
            FROM generate_series(1, :n) n"""), {"c": SD, "n": buildings})


def id_number(rng: random.Random, taken: set[str]) -> str:
    from gisgrid.imports.idnumbers import check_character

    while True:
        body = f"510104{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        number = body + check_character(body)
        if number not in taken:
            taken.add(number)
            return number


def sheet_rows(count: int, buildings: int, seed: int = 15) -> list[list]:
    rng = random.Random(seed)
    taken: set[str] = set()
    rows = []
    flats = [(b, e, f, r) for b in range(1, buildings + 1) for e in (1, 2) for f in range(1, 7) for r in (1, 2)]
    rng.shuffle(flats)
    flat_iter = iter(flats)
    while len(rows) < count:
        b, e, f, r = next(flat_iter)
        for k in range(min(rng.choice((1, 2, 2, 3, 3, 4)), count - len(rows))):
            number = id_number(rng, taken)
            rows.append([f"居民{len(rows)}", "男" if int(number[16]) % 2 else "女", number,
                         f"13{rng.randint(0, 9)}{rng.randint(0, 10**8 - 1):08d}", f"基准路{b}号{e}-{f}-{f}0{r}",
                         "户主" if k == 0 else "家属", rng.choice(("户籍", "流动")), rng.choice(("是", "否", "否")),
                         rng.choice(("", "", "", "", "残疾", "空巢老人"))])
    return rows


def write_sheet(path: Path, rows: list[list]) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("居民台帐")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)


def changed(rows: list[list], buildings: int) -> list[list]:
    """1 % of the rows changed: a third moved to another flat, a third a new phone, a third new."""
    rng = random.Random(16)
    out = [list(r) for r in rows]
    picks = rng.sample(range(len(out)), len(out) // 100)
    taken = {r[2] for r in rows}
    for n, i in enumerate(picks):
        if n % 3 == 0:
            out[i][4] = f"基准路{rng.randint(1, buildings)}号{rng.randint(1, 2)}-6-6{rng.randint(3, 9)}"
        elif n % 3 == 1:
            out[i][3] = f"15{rng.randint(0, 9)}{rng.randint(0, 10**8 - 1):08d}"
        else:
            out[i] = [f"新居民{n}", "", id_number(rng, taken), "", out[i][4], "家属", "户籍", "否", ""]
            out.append(list(rows[i]))  # the person it replaced stays in the sheet
    return out


def clear(engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("""DELETE FROM residents r USING households h, buildings b
                             WHERE h.id = r.household_id AND b.id = h.building_id AND b.subdistrict_code = :c"""),
                     {"c": SD})
        conn.execute(text("""DELETE FROM households h USING buildings b
                             WHERE b.id = h.building_id AND b.subdistrict_code = :c"""), {"c": SD})


def timed_import(engine, path: Path, update: bool):
    from sqlalchemy.orm import Session

    from gisgrid.imports.service import ImportOptions, import_file

    start = time.perf_counter()
    with Session(engine) as session:
        report = import_file(session, "residents", path, ImportOptions(update=update, actor="benchmark"))
        session.commit()
    return time.perf_counter() - start, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_arg(parser)
    parser.add_argument("--residents", type=int, default=60_000)
    parser.add_argument("--buildings", type=int, default=1_500)
    args = parser.parse_args()
    if not args.database_url:
        from gisgrid.core.commandline import ensure_database

        ensure_database(quiet=True)
    engine = engine_from(args)
    territory(engine, args.buildings)
    clear(engine)
    rows = sheet_rows(args.residents, args.buildings)
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder) / "台帐.xlsx", Path(folder) / "台帐-更新.xlsx"
        write_sheet(first, rows)
        write_sheet(second, changed(rows, args.buildings))
        from gisgrid.imports.reading import read_table

        start = time.perf_counter()
        read_table(first)
        reading = time.perf_counter() - start
        load, loaded = timed_import(engine, first, update=False)
        again, updated = timed_import(engine, second, update=True)
    results = [
        {"step": "read the sheet (openpyxl)", "rows": len(rows), "seconds": reading, "rows/s": len(rows) / reading},
        {"step": "import residents", "rows": loaded.rows, "seconds": load, "rows/s": loaded.rows / load,
         "added": loaded.added, "refused": loaded.refused_rows},
        {"step": "import residents --update (1 %)", "rows": updated.rows, "seconds": again,
         "rows/s": updated.rows / again, "added": updated.added, "changed": updated.changed,
         "moved": len(updated.moves), "refused": updated.refused_rows},
    ]
    print(table(results, ["step", "rows", "seconds", "rows/s", "added", "changed", "moved", "refused"]))
    print(f"peak memory {peak_rss_mb():,.0f} MB; bars: load < 60 s, update < 20 s")


if __name__ == "__main__":
    main()
