"""Benchmark (issue 15): a sub-district of the demo's size onboarded from files, through the commands
a real office runs, into a blank database; each step in rows/s with its peak memory.

    GISGRID_HOME=/tmp/gisgrid-onboarding .venv/bin/python benchmarks/onboarding.py [--communities 9]
        [--residents 60000] [--repeat 3] [--keep DIR]

1. The files, made the way offices make them, from the demo generator (``--communities`` 9 gives
   ~1,800 buildings, ~26,000 households, ~64,000 people): the boundary as GCJ-02 GeoJSON, the three
   grid levels as files with names and no codes, buildings as a GeoPackage of footprints with
   Chinese columns, the residents' 台帐 as ONE Excel sheet of ``--residents`` rows (a merged title
   row, a date row, the header on row 3, every household of those people), the staff list as
   Excel. Then a copy of the residents sheet with 1 % of its rows changed: a third phones changed,
   a third people moved to another flat (whole families), a third new residents.
2. The steps, each the real CLI in its own process (its peak RSS: ``VmHWM``, read while it runs): territory
   import, grid import L1 / L2 / L3 with ``--assign-codes``, buildings, residents, staff, the first
   administrator. The residents step and the 1 % ``--update`` run ``--repeat`` times, each on its
   own copy of the database as it stood before the step (``CREATE DATABASE … TEMPLATE``).

Reported: per step the rows, seconds (median of the repeats), rows/s and peak RSS, and for the two
steps the issue sets a bar for, the median beside the bar and their ratio (bar: residents < 60 s,
1 % update < 20 s on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402

BARS = {"residents": 60.0, "residents --update 1%": 20.0}
SD_CODE = "510107001"
ADMIN_PASSWORD = "Onboard-Bench-2026!"
RESIDENT_HEADERS = ["姓名", "性别", "公民身份号码", "联系电话", "楼栋地址", "单元", "楼层", "房号", "与户主关系",
                    "户籍类型", "党员", "重点人群"]
RESIDENCE_LABELS = {"registered": "户籍", "floating": "流动", "overseas": "境外"}
USE_LABELS = {"residential": "住宅", "mixed": "商住", "commercial": "商业", "public": "公共"}
ROLE_LABELS = {"grid_lead": "网格长", "full_time_worker": "专职网格员", "part_time_worker": "兼职网格员",
               "assistant": "协管员", "information_officer": "综合信息员", "cleaner": "保洁员",
               "party_activist": "党员骨干", "community_police": "社区民警", "building_head": "楼栋长",
               "volunteer": "志愿者"}


# --- the files ----------------------------------------------------------------------------------

def _gcj02(geom):
    from gisgrid.core.crs import wgs84_to_gcj02

    return shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def _sheet(path: Path, title: str, headers: list[str], rows: list[list]) -> None:
    """An office's 台帐: a merged title row, a date row, the header on row 3."""
    book = Workbook()
    sheet = book.active
    sheet.title = "台帐"
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    sheet.append([f"填报日期：{time.strftime('%Y年%m月%d日')}"])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)


def _tidy(grids: pd.DataFrame) -> pd.DataFrame:
    """The demo's grids as an office that fixed its planted overlap would hand them over: each grid
    inside its parent and clear of the siblings before it (the import refuses the rest, rightly)."""
    grids = grids.copy()
    shapes: dict[str, object] = {}
    for level in (1, 2, 3):
        placed: dict[str | None, object] = {}
        for index, grid in grids[grids["level"] == level].sort_values("code").iterrows():
            shape = grid["geom"]
            parent = grid["parent_code"] if isinstance(grid["parent_code"], str) else None
            if parent is not None:
                shape = shapely.intersection(shape, shapes[parent])
            if parent in placed:
                shape = shapely.difference(shape, placed[parent])
            shape = shapely.make_valid(shapely.set_precision(shape, 1e-7))
            shape = shapely.MultiPolygon([p for p in getattr(shape, "geoms", [shape]) if p.geom_type == "Polygon"]
                                         if shape.geom_type != "Polygon" else [shape])
            shapes[grid["code"]] = shape
            placed[parent] = shapely.union(placed[parent], shape) if parent in placed else shape
            grids.at[index, "geom"] = shape
    return grids


def make_files(folder: Path, communities: int, residents_wanted: int, seed: int) -> dict[str, int]:
    from gisgrid.demo.generator import DemoConfig, generate

    data = generate(DemoConfig(seed=seed, communities=communities, cases=False))
    subdistrict = data["subdistricts"].iloc[0]
    boundary = shapely.from_wkt(subdistrict["boundary"]) if isinstance(subdistrict["boundary"], str) \
        else subdistrict["boundary"]
    gpd.GeoDataFrame({"名称": [subdistrict["name"]]}, geometry=[_gcj02(boundary)], crs="EPSG:4326") \
        .to_file(folder / "boundary.geojson", driver="GeoJSON")
    grids = _tidy(data["grids"])
    for level in (1, 2, 3):
        chosen = grids[grids["level"] == level]
        gpd.GeoDataFrame({"名称": chosen["name"].tolist()}, geometry=list(chosen["geom"]), crs="EPSG:4326") \
            .to_file(folder / f"grids_l{level}.geojson", driver="GeoJSON")
    buildings = data["buildings"]
    footprints = [f if f is not None else shapely.buffer(g, 0.00005, quad_segs=2)
                  for f, g in zip(buildings["footprint"], buildings["geom"], strict=True)]
    gpd.GeoDataFrame({"地址": buildings["address"], "名称": buildings["name"], "小区": buildings["compound"],
                      "层数": buildings["floors"], "单元数": buildings["entrances"],
                      "每层户数": buildings["flats_per_floor"], "用途": buildings["use"].map(USE_LABELS)},
                     geometry=footprints, crs="EPSG:4326").to_file(folder / "buildings.gpkg", driver="GPKG")

    people = data["residents"].sort_values(["household_id", "id"])
    households = data["households"].set_index("id")
    keep_households = people["household_id"].drop_duplicates()
    cumulative = people.groupby("household_id", sort=False).size().reindex(keep_households).cumsum()
    chosen_households = cumulative[cumulative <= residents_wanted].index
    people = people[people["household_id"].isin(chosen_households)]
    address = buildings.set_index("id")["address"]
    groups = data["resident_key_groups"].merge(
        pd.DataFrame({"key_group": ["empty_nest_elderly", "elderly_living_alone", "disabled", "subsistence_allowance",
                                    "unemployed_4050", "released_prisoner", "community_corrections",
                                    "left_behind_child", "entitled_group"],
                      "label": ["空巢老人", "独居老人", "残疾人", "低保家庭", "4050人员", "刑释解教人员", "社区矫正对象",
                                "留守儿童", "优抚对象"]}), on="key_group")
    tags = groups.groupby("resident_id")["label"].agg("、".join)

    def row(person, flat) -> list:
        return [person.name, "男" if person.sex == "M" else "女", person.id_number,
                person.phone if isinstance(person.phone, str) else None, address[flat.building_id],
                int(flat.entrance), int(flat.floor), str(flat.room), person.relation,
                RESIDENCE_LABELS[person.residence_type], "是" if person.party_member else "否",
                tags.get(person.id)]

    rows = [row(p, households.loc[p.household_id]) for p in people.itertuples()]
    _sheet(folder / "residents.xlsx", f"{subdistrict['name']}实有人口台帐", RESIDENT_HEADERS, rows)

    # 1 % changed: phones, families moved to flats nobody in the sheet lives in, new residents
    rng = np.random.default_rng(seed)
    changed = [list(r) for r in rows]
    share = max(1, len(rows) // 100 // 3)
    with_phone = [i for i, r in enumerate(changed) if r[3]]
    for i in rng.choice(with_phone, share, replace=False):
        changed[i][3] = "139" + f"{rng.integers(10**7, 10**8)}"
    free_flats = households.drop(index=chosen_households, errors="ignore")
    moved, families = 0, people.groupby("household_id").groups
    flats = iter(free_flats.sample(frac=1, random_state=seed).itertuples())
    index_of = {pid: i for i, pid in enumerate(people["id"])}
    for household_id in rng.permutation(list(families)):
        if moved >= share:
            break
        flat = next(flats)
        for pid in people.loc[families[household_id], "id"]:
            i = index_of[pid]
            changed[i][4:8] = [address[flat.building_id], int(flat.entrance), int(flat.floor), str(flat.room)]
            moved += 1
    from gisgrid.demo.generator import id_number

    for k in range(share):
        template = changed[int(rng.integers(len(changed)))]
        birth = pd.Timestamp(2026, 1 + k % 10, 1 + k % 28).to_pydatetime()  # born this year, before today
        changed.append([f"新生{k}", "男" if k % 2 else "女", id_number("110105", birth, k % 1000),
                        None, *template[4:8], "子女", "户籍", "否", None])
    _sheet(folder / "residents_update.xlsx", f"{subdistrict['name']}实有人口台帐（更新）", RESIDENT_HEADERS, changed)

    staff = data["staff"].set_index("id")
    grid_names = grids.set_index("id")["name"]
    parents = grids.set_index("code")["name"]
    assignments = data["grid_assignments"]
    staff_rows = [[staff.loc[a.staff_id, "name"], staff.loc[a.staff_id, "phone"], ROLE_LABELS[a.role],
                   grid_names[a.grid_id], parents.get(grids.set_index("id").loc[a.grid_id, "parent_code"]),
                   staff.loc[a.staff_id, "title"]]
                  for a in assignments.itertuples()]
    pd.DataFrame(staff_rows, columns=["姓名", "电话", "角色", "网格名称", "上级网格", "职务"]) \
        .to_pickle(folder / "staff_by_name.pkl")
    return {"buildings": len(buildings), "households": len(chosen_households), "residents": len(rows),
            "update_rows": len(changed), "staff_rows": len(staff_rows),
            **{f"grids_l{level}": int((grids["level"] == level).sum()) for level in (1, 2, 3)}}


def staff_sheet(folder: Path, url: str) -> Path:
    """The staff list with the grid codes the import assigned (offices write codes, not names)."""
    by_name = pd.read_pickle(folder / "staff_by_name.pkl")
    engine = create_engine(url)
    with engine.connect() as conn:
        codes = pd.read_sql(text("""SELECT g.code, g.name, p.name AS parent FROM grids g
                                    LEFT JOIN grids p ON p.code = g.parent_code"""), conn)
    engine.dispose()
    merged = by_name.merge(codes, left_on=["网格名称", "上级网格"], right_on=["name", "parent"], how="left")
    merged.loc[merged["上级网格"].isna(), "code"] = merged.loc[merged["上级网格"].isna(), "网格名称"].map(
        codes[codes["parent"].isna()].set_index("name")["code"])
    rows = merged[["姓名", "电话", "角色", "code", "职务"]].values.tolist()
    path = folder / "staff.xlsx"
    _sheet(path, "网格工作人员名单", ["姓名", "电话", "角色", "网格编码", "职务"], rows)
    return path


# --- the steps ----------------------------------------------------------------------------------

def run(step: str, args: list[str], env: dict, stdin: str | None = None) -> tuple[float, float]:
    """One CLI command in its own process: (seconds, its peak RSS in MB)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "gisgrid.cli", *args], env=env, text=True,
                               stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    if stdin:
        process.stdin.write(stdin)
        process.stdin.close()
    peak_kb = 0
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()))
    chunks: list[str] = []
    reader.start()
    while process.poll() is None:  # the child's own high-water mark (ru_maxrss would carry ours over exec)
        try:
            status_text = Path(f"/proc/{process.pid}/status").read_text()
            peak_kb = max(peak_kb, int(status_text.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    reader.join()
    output = "".join(chunks)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{step} failed (exit {process.returncode}):\n{output}")
    return seconds, peak_kb / 1024


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    if template is None:
        from gisgrid.core import migrate

        owner = create_engine(url, isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        owner.dispose()
        migrate.upgrade(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=9)
    parser.add_argument("--residents", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()

    from gisgrid.core.commandline import ensure_database

    admin_url = ensure_database(quiet=True)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gisgrid-onboarding-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    counts = make_files(folder, args.communities, args.residents, args.seed)
    print(f"files written to {folder} in {time.perf_counter() - started:.0f} s: {counts}")

    base = create_database(admin_url, "gisgrid_onboarding_bench")
    env = {**os.environ, "GISGRID_DATABASE_URL": base}
    results: list[dict] = []

    def once(step: str, rows: int, cli: list[str], stdin: str | None = None) -> None:
        seconds, rss = run(step, cli, env, stdin)
        results.append({"step": step, "rows": rows, "runs": 1, "median_s": seconds,
                        "rows_per_s": rows / seconds, "peak_rss_mb": rss})

    once("territory import", 1, ["territory", "import", str(folder / "boundary.geojson"), "--code", SD_CODE,
                                 "--name", "锦城街道", "--crs", "GCJ-02"])
    for level in (1, 2, 3):
        once(f"grid import L{level}", counts[f"grids_l{level}"],
             ["grid", "import", str(folder / f"grids_l{level}.geojson"), "--level", str(level), "--assign-codes",
              "--mode", "fit"])
    once("buildings", counts["buildings"], ["import", "buildings", str(folder / "buildings.gpkg")])

    def repeated(step: str, rows: int, template: str, cli: list[str]) -> str:
        samples, peaks, last = [], [], None
        for k in range(args.repeat):
            last = create_database(admin_url, f"gisgrid_onboarding_run{k}", template=template)
            seconds, rss = run(step, cli, {**os.environ, "GISGRID_DATABASE_URL": last})
            samples.append(seconds)
            peaks.append(rss)
        median = statistics.median(samples)
        results.append({"step": step, "rows": rows, "runs": len(samples), "median_s": median,
                        "rows_per_s": rows / median, "peak_rss_mb": max(peaks), "bar_s": BARS.get(step),
                        "ratio": median / BARS[step] if step in BARS else None})
        return last

    loaded = repeated("residents", counts["residents"], "gisgrid_onboarding_bench",
                      ["import", "residents", str(folder / "residents.xlsx")])
    snapshot = create_database(admin_url, "gisgrid_onboarding_loaded", template=f"gisgrid_onboarding_run{args.repeat - 1}")
    del loaded
    repeated("residents --update 1%", counts["update_rows"], "gisgrid_onboarding_loaded",
             ["import", "residents", str(folder / "residents_update.xlsx"), "--update"])
    env = {**os.environ, "GISGRID_DATABASE_URL": snapshot}
    staff = staff_sheet(folder, snapshot)
    once("staff", counts["staff_rows"], ["import", "staff", str(staff)])
    once("first administrator", 1, ["accounts", "create", "admin", "--role", "admin", "--subdistrict", SD_CODE,
                                    "--password-stdin"], stdin=ADMIN_PASSWORD + "\n")
    print()
    print(table(results, ["step", "rows", "runs", "median_s", "rows_per_s", "peak_rss_mb", "bar_s", "ratio"]))
    for k in range(args.repeat):
        create_database(admin_url, f"gisgrid_onboarding_run{k}")  # emptied: the copies are large
    print(f"\n(the onboarded database is kept as gisgrid_onboarding_loaded; files in {folder})")


if __name__ == "__main__":
    main()
