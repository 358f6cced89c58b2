"""A blank installation becomes a working sub-district from its own files, through the commands
alone: territory → L1 → L2 (without codes) → buildings → residents (Excel) → staff → the first
administrator; then the service answers for it, `--update` changes exactly what changed, the
readiness check is clean, and an export imports back into a second blank database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import httpx
import pandas as pd
import pytest
import shapely
from conftest import Watched, drop_database, fresh_database, serve
from openpyxl import Workbook
from shapely import Point
from sqlalchemy import create_engine, text

from gisgrid.core.crs import wgs84_to_gcj02

from builders import lonlat, metres_box

SD = "110105021"
PASSWORD = "Onboard-First-2026"
RESIDENTS = ["姓名", "性别", "公民身份号码", "联系电话", "楼栋地址", "单元", "楼层", "房号", "与户主关系", "户籍类型",
             "党员", "重点人群"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(body: str) -> str:
    """17 digits + the GB 11643 check character."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def gcj02(geom):
    import numpy as np

    return shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def gisgrid(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    done = subprocess.run([str(Path(sys.executable).parent / "gisgrid"), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=600)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ledger_sheet(path: Path, rows: list[list]) -> None:
    """The 台帐 as a community keeps it: a merged title, a date line, the header on row 3."""
    book = Workbook()
    sheet = book.active
    sheet.append(["朝阳测试街道实有人口台帐"])
    sheet.merge_cells("A1:L1")
    sheet.append(["填报单位：东区社区    填报日期：2026年12月1日"])
    sheet.append(RESIDENTS)
    for row in rows:
        sheet.append(row)
    for cell in sheet["C"][3:]:
        cell.number_format = "@"
    book.save(path)


# Buildings 0–3 west half, 4–7 east half, on a 1 km square; flats are 单元 1, floors 1–6, rooms x01/x02.
BUILDINGS = [(f"测试路{n + 1}号", 120 + 240 * (n % 4), 250 if n < 4 else 750) for n in range(8)]


def people() -> list[list]:
    rows = []
    for n, (address, _, _) in enumerate(BUILDINGS):
        for flat in range(2):
            floor, room = 1 + flat, f"{1 + flat}0{1 + flat}"
            head = id_number(f"11010519{60 + n:02d}0{1 + flat}1{n}0{flat}1")
            spouse = id_number(f"11010519{62 + n:02d}0{2 + flat}1{n}0{flat}2")
            rows.append([f"户主{n}{flat}", None, head, f"1380000{n:02d}{flat:02d}", address, 1, floor, room, "户主",
                         "户籍", "是" if n == 0 else "否", "空巢老人" if n == 1 else None])
            rows.append([f"配偶{n}{flat}", None, spouse, None, address, 1, floor, room, "配偶", "流动", "否", None])
    return rows


@pytest.fixture
def blank(engine):
    url = engine.url.render_as_string(hide_password=False)
    made = []

    def make(name: str) -> str:
        made.append(name)
        return fresh_database(url, name)

    yield make
    for name in made:
        drop_database(url, name)


def make_files(folder: Path) -> dict[str, Path]:
    square = lonlat(metres_box(0, 0, 1000, 1000))
    files = {"boundary": folder / "边界.geojson", "l1": folder / "社区.geojson", "l2": folder / "网格.shp",
             "buildings": folder / "楼栋.csv", "residents": folder / "台帐.xlsx", "staff": folder / "人员.xlsx"}
    gpd.GeoDataFrame({"名称": ["朝阳测试街道"]}, geometry=[gcj02(square)], crs="EPSG:4326") \
        .to_file(files["boundary"], driver="GeoJSON")
    halves = [lonlat(metres_box(500, 0, 1000, 1000)), lonlat(metres_box(0, 0, 500, 1000))]
    gpd.GeoDataFrame({"名称": ["东社区", "西社区"]}, geometry=halves, crs="EPSG:4326") \
        .to_file(files["l1"], driver="GeoJSON")
    quarters = [lonlat(metres_box(x, y, x + 500, y + 500)) for y in (0, 500) for x in (0, 500)]
    gpd.GeoDataFrame({"名称": ["西南网格", "东南网格", "西北网格", "东北网格"]}, geometry=quarters, crs="EPSG:4490") \
        .to_file(files["l2"], driver="ESRI Shapefile", encoding="GBK")
    files["l2"].with_suffix(".cpg").unlink(missing_ok=True)
    points = [lonlat(Point(x, y)) for _, x, y in BUILDINGS]
    pd.DataFrame({"地址": [b[0] for b in BUILDINGS], "层数": 6, "单元数": 1, "每层户数": 2, "用途": "住宅",
                  "经度": [p.x for p in points], "纬度": [p.y for p in points]}) \
        .to_csv(files["buildings"], index=False, encoding="gbk")
    ledger_sheet(files["residents"], people())
    return files


def staff_sheet(path: Path, url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        grids = conn.execute(text("SELECT code, level FROM grids WHERE retired_at IS NULL ORDER BY code")).all()
    engine.dispose()
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "电话", "角色", "网格编码"])
    for n, (code, level) in enumerate(grids):
        sheet.append([f"网格长{n}", f"1391111{n:04d}", "网格长", code])
        if level == 2:
            sheet.append([f"网格员{n}", f"1392222{n:04d}", "专职网格员", code])
    book.save(path)


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in (
            "subdistricts", "grids", "buildings", "households", "residents", "resident_key_groups", "staff",
            "grid_assignments")}
    engine.dispose()
    return found


def test_a_blank_installation_onboards_itself(blank, browser, tmp_path):
    url = blank("gisgrid_onboarding_e2e")
    files = make_files(tmp_path)

    out = ok(gisgrid(url, "territory", "import", str(files["boundary"]), "--code", SD, "--name", "朝阳测试街道",
                     "--crs", "GCJ-02"))
    assert SD in out
    assert SD in ok(gisgrid(url, "territory", "list"))
    ok(gisgrid(url, "grid", "import", str(files["l1"]), "--level", "1", "--assign-codes"))
    ok(gisgrid(url, "grid", "import", str(files["l2"]), "--level", "2", "--assign-codes"))
    engine = create_engine(url)
    with engine.connect() as conn:
        codes = dict(conn.execute(text("SELECT name, code FROM grids ORDER BY code")).all())
    # numbered west→east, north→south within the parent
    assert codes["西社区"] == f"{SD}001" and codes["东社区"] == f"{SD}002"
    assert codes["西北网格"] == f"{SD}001001" and codes["西南网格"] == f"{SD}001002"
    assert codes["东北网格"] == f"{SD}002001" and codes["东南网格"] == f"{SD}002002"

    ok(gisgrid(url, "import", "buildings", str(files["buildings"]), "--crs", "WGS84"))
    ok(gisgrid(url, "import", "residents", str(files["residents"])))
    staff_sheet(files["staff"], url)
    ok(gisgrid(url, "import", "staff", str(files["staff"])))
    ok(gisgrid(url, "accounts", "create", "jiedao", "--role", "admin", "--subdistrict", SD, "--password-stdin",
               stdin=PASSWORD + "\n"))
    assert counts(url) == {"subdistricts": 1, "grids": 6, "buildings": 8, "households": 16, "residents": 32,
                           "resident_key_groups": 2, "staff": 10, "grid_assignments": 10}
    with engine.connect() as conn:
        sexes = dict(conn.execute(text("SELECT name, sex::text FROM residents WHERE name IN ('户主00', '配偶00')")).all())
        plain = conn.execute(text("SELECT count(*) FROM residents WHERE id_number_masked !~ '\\*'")).scalar_one()
    assert sexes == {"户主00": "M", "配偶00": "F"}  # from the ID numbers: the sheet has no sex
    assert plain == 0
    readiness = gisgrid(url, "check", "--subdistrict", SD)
    assert "网格长" in readiness.stdout or "lead" in readiness.stdout

    with serve(engine) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            signed = client.post("/auth/sign-in", json={"username": "jiedao", "password": PASSWORD})
            assert signed.status_code == 200, signed.text
            client.headers["Authorization"] = f"Bearer {signed.json()['token']}"
            coverage = client.get("/coverage", params={"subdistrict": SD}).json()
            assert coverage["summary"]["households"] == 16
            assert coverage["summary"]["households_covered_pct"] == 100
            ledger = client.get(f"/grids/{SD}001001/ledger")
            assert ledger.status_code == 200, ledger.text
            spot = lonlat(Point(120, 750))
            found = client.get("/lookup", params={"lon": spot.x, "lat": spot.y}).json()
            assert [g["code"] for g in found["grids"]] == [f"{SD}001", f"{SD}001001"]
            assert found["grids"][1]["lead"].startswith("网格长")
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", bypass_csp=True)
        page = Watched(context.new_page())
        page.page.goto(f"{base}/sign-in")
        page.page.fill("input[name=username]", "jiedao")
        page.page.fill("input[name=password]", PASSWORD)
        page.page.click("button[type=submit]")
        page.page.wait_for_url(f"{base}/")
        page.page.goto(f"{base}/map/coverage?subdistrict={SD}", wait_until="networkidle")
        page.shot("onboarding-coverage-390")
        summary = page.page.inner_text("#gg-summary")
        assert "住户覆盖 100.0%" in summary and "网格数 6" in summary, summary
        page.clean()
        context.close()

    # a family moved, a phone changed, a new resident: --update changes exactly those
    rows = people()
    moved = [r for r in rows if r[4] == BUILDINGS[0][0] and r[7] == "101"]
    for r in moved:
        r[6], r[7] = 5, "502"
    rows[2][3] = "13999990000"
    rows.append(["新生儿", None, id_number("11010520260301" + "123"), None, BUILDINGS[3][0], 1, 2, "202", "子女",
                 "户籍", "否", None])
    ledger_sheet(files["residents"], rows)
    out = ok(gisgrid(url, "import", "residents", str(files["residents"]), "--update", "--report",
                     str(tmp_path / "update.json")))
    report = json.loads((tmp_path / "update.json").read_text())
    assert (report["added"], report["changed"]) == (1, 3)
    assert report["unchanged"] == 32 - 3
    with engine.connect() as conn:
        flat = conn.execute(text("""SELECT h.floor, h.room, count(*) FROM residents r JOIN households h ON h.id = r.household_id
                                    WHERE r.name IN ('户主00', '配偶00') GROUP BY 1, 2""")).all()
        assert flat == [(5, "502", 2)]
        assert conn.execute(text("SELECT phone_masked FROM residents WHERE name = :n"),
                            {"n": rows[2][0]}).scalar_one() == "139****0000"
    engine.dispose()

    exported = tmp_path / "export.gpkg"
    workbook = tmp_path / "export.xlsx"
    ok(gisgrid(url, "export", str(exported), "--subdistrict", SD))
    ok(gisgrid(url, "export", str(workbook), "--subdistrict", SD, "--with-personal-data"))
    second = blank("gisgrid_onboarding_e2e_back")
    layers = {name for name, _ in __import__("pyogrio").list_layers(exported)}
    assert {"boundary", "grids_l1", "grids_l2", "buildings"} <= layers
    ok(gisgrid(second, "territory", "import", str(exported), "--layer", "boundary", "--code", SD,
               "--name", "朝阳测试街道"))
    for level in (1, 2):
        ok(gisgrid(second, "grid", "import", str(exported), "--layer", f"grids_l{level}"))
    ok(gisgrid(second, "import", "buildings", str(workbook), "--sheet", "楼栋", "--crs", "WGS84"))
    ok(gisgrid(second, "import", "households", str(workbook), "--sheet", "住户"))  # the flat a family left too
    ok(gisgrid(second, "import", "residents", str(workbook), "--sheet", "居民"))
    ok(gisgrid(second, "import", "staff", str(workbook), "--sheet", "工作人员"))
    assert counts(second) == counts(url)
    first_engine, second_engine = create_engine(url), create_engine(second)
    shapes = ("SELECT code, ST_AsBinary(geom) FROM grids UNION ALL SELECT address, ST_AsBinary(geom) FROM buildings "
              "UNION ALL SELECT code, ST_AsBinary(boundary) FROM subdistricts ORDER BY 1")
    with first_engine.connect() as a, second_engine.connect() as b:
        for (code_a, geom_a), (code_b, geom_b) in zip(a.execute(text(shapes)), b.execute(text(shapes)), strict=True):
            assert code_a == code_b
            shape_a, shape_b = shapely.from_wkb(bytes(geom_a)), shapely.from_wkb(bytes(geom_b))
            assert shapely.hausdorff_distance(shape_a, shape_b) < 1e-7  # the same shape (a ring may start elsewhere)
    first_engine.dispose()
    second_engine.dispose()
