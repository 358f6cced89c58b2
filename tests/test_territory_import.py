"""A sub-district's boundary from the files offices really hold: a GCJ-02 GeoJSON traced on AMap,
a CGCS2000 Shapefile with a GBK attribute table and no .cpg, a GeoPackage in a projected
CGCS2000 CRS; the refusals (a bow-tie, a line, an overlap, a bad code …) with nothing stored; a
second import that replaces the boundary with its impact on coverage; the CLI and the HTTP twin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from conftest import drop_database, fresh_database
from pyproj import Transformer
from shapely import LineString, Polygon
from sqlalchemy import create_engine, text

from gisgrid.core import crs
from gisgrid.core.errors import InvalidInput
from gisgrid.demo.accounts import PASSWORDS
from gisgrid.grids import shapes
from gisgrid.onboarding.territory import check_code, import_boundary, read_boundary

from builders import Territory, lonlat, metres_box

SD = "110101951"
# an irregular outline, in the builders' local metres (Beijing, Dongcheng)
OUTLINE_M = Polygon([(0, 0), (620, -40), (800, 250), (700, 600), (300, 680), (-60, 420)])


def wgs84(geom_m):
    return lonlat(geom_m, on_grid=False)


def to_gcj02(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(crs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def metres_apart(a, b) -> float:
    """Hausdorff distance in metres."""
    origin = (a.centroid.x, a.centroid.y)
    return shapes.to_metres(a, origin).hausdorff_distance(shapes.to_metres(b, origin))


def write(path: Path, geoms, crs_name: str | None = "EPSG:4326", driver: str = "GeoJSON", **columns) -> Path:
    frame = gpd.GeoDataFrame(columns or {"名称": ["边界"] * len(geoms)}, geometry=list(geoms), crs=crs_name)
    frame.to_file(path, driver=driver, engine="pyogrio", **({"encoding": "GBK"} if driver == "ESRI Shapefile" else {}))
    return path


def stored(db, code: str = SD):
    row = db.execute(text("SELECT ST_AsBinary(boundary), version, name FROM subdistricts WHERE code = :c"),
                     {"c": code}).first()
    return None if row is None else (shapely.from_wkb(row[0]), row[1], row[2])


def run(db, path, **kw):
    return import_boundary(db, path, **{"code": SD, "name": "测试街道", "actor": "技术员", **kw})


def refused(db, path, code: str = SD, **kw) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        run(db, path, code=code, **kw)
    assert stored(db, code) is None, "a refusal stores nothing"
    return caught.value


# --- files as offices make them --------------------------------------------------------------

def test_a_gcj02_geojson_traced_on_amap_lands_on_its_wgs84_place(db, tmp_path):
    truth = wgs84(OUTLINE_M)
    path = write(tmp_path / "边界.geojson", [to_gcj02(truth)])
    report = run(db, path, crs="GCJ-02", county="东城区", city="北京市")
    assert (report["action"], report["version_before"], report["version_after"]) == ("created", None, 1)
    boundary, version, name = stored(db)
    assert (version, name) == (1, "测试街道")
    assert metres_apart(boundary, truth) < 0.5
    assert metres_apart(boundary, to_gcj02(truth)) > 100  # it was converted, not taken as WGS84
    assert report["area_m2"] == pytest.approx(shapes.area_m2(truth), rel=1e-4)
    history = db.execute(text("SELECT version, changed_by, reason, operation, valid_to FROM subdistrict_versions "
                              "WHERE code = :c"), {"c": SD}).all()
    assert [tuple(r) for r in history] == [(1, "技术员", "导入边界 边界.geojson", "import", None)]
    audit = db.execute(text("SELECT actor, outcome, detail->>'file' FROM audit_log WHERE action = 'territory.created' "
                            "AND object_id = :c"), {"c": SD}).all()
    assert [tuple(r) for r in audit] == [("技术员", "ok", "边界.geojson")]


def test_a_cgcs2000_shapefile_with_gbk_attributes_and_no_cpg_is_dissolved(db, tmp_path):
    west, east = metres_box(0, 0, 400, 500), metres_box(400, 0, 900, 500)
    path = write(tmp_path / "jiedao.shp", [wgs84(west), wgs84(east)], "EPSG:4490", "ESRI Shapefile",
                 名称=["东华门街道西片", "东华门街道东片"], 备注=["民政局提供", "规划局提供"])
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "东华门街道西片".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    report = run(db, path)
    assert report["crs"] == "CGCS2000"
    assert [f["attributes"]["名称"] for f in report["features"]] == ["东华门街道西片", "东华门街道东片"]
    assert report["dissolved"] and report["parts"] == 1
    assert any("dissolved into one MultiPolygon" in w for w in report["warnings"])
    assert any("GB18030" in w for w in report["warnings"])
    boundary, _, _ = stored(db)
    assert len(shapely.get_parts(boundary)) == 1 and shapely.get_num_interior_rings(boundary.geoms[0]) == 0
    assert metres_apart(boundary, wgs84(metres_box(0, 0, 900, 500))) < 0.05
    zipped = tmp_path / "jiedao.zip"  # as it comes by e-mail
    with zipfile.ZipFile(zipped, "w") as archive:
        for part in tmp_path.glob("jiedao.*"):
            if part != zipped:
                archive.write(part, part.name)
    from_zip = read_boundary(zipped, None, None)
    assert from_zip["features"] == report["features"] and from_zip["boundary"].equals(boundary)


def test_a_geopackage_in_projected_cgcs2000_is_converted(db, tmp_path):
    truth = wgs84(OUTLINE_M)
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True)  # CGCS2000 / 3-degree GK CM 117E
    projected = shapely.transform(truth, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    path = write(tmp_path / "boundary.gpkg", [projected], "EPSG:4548", "GPKG")
    report = run(db, path)
    assert report["crs"] == "EPSG:4548"
    assert metres_apart(stored(db)[0], truth) < 0.5


# --- refusals --------------------------------------------------------------------------------

def test_a_hand_drawn_bow_tie_is_refused_where_it_crosses(db, tmp_path):
    bow_tie = Polygon([(116.400, 39.910), (116.405, 39.915), (116.405, 39.910), (116.400, 39.915)])
    path = write(tmp_path / "手绘.geojson", [wgs84(metres_box(2000, 0, 2400, 400)), bow_tie])
    error = refused(db, path, crs="GCJ-02")
    assert "手绘.geojson" in error.message and "feature 2" in error.message
    assert "Self-intersection" in error.message and "自相交" in error.message
    assert "GCJ-02 (116.4025000, 39.9125000) = WGS84 (" in error.message


def test_a_line_is_no_boundary(db, tmp_path):
    path = write(tmp_path / "line.geojson", [LineString([(116.40, 39.91), (116.41, 39.92)])])
    error = refused(db, path)
    assert "line.geojson" in error.message and "feature 1" in error.message and "LineString" in error.message


def test_overlapping_the_demo_subdistrict_names_it_and_the_area(db, demo, tmp_path):
    demo_code, name, wkb = db.execute(text("SELECT code, name, ST_AsBinary(boundary) FROM subdistricts "
                                           "ORDER BY code LIMIT 1")).one()
    own = shapely.from_wkb(wkb)
    c = own.centroid
    drawn = shapely.box(c.x - 0.002, c.y - 0.002, own.bounds[2] + 0.002, c.y + 0.002)  # from inside to beyond
    path = write(tmp_path / "over.geojson", [drawn])
    error = refused(db, path, code="510107099")
    expected = shapes.area_m2(shapes.intersection(shapes.as_multi(shapes.on_grid(drawn)), own))
    assert name in error.message and demo_code in error.message
    stated = float(error.message.split("by ")[1].split(" m²")[0].replace(",", ""))
    assert stated == pytest.approx(expected, rel=1e-3)


def test_a_sliver_overlap_with_a_neighbour_is_cut_off_and_said(db, tmp_path):
    run(db, write(tmp_path / "a.geojson", [wgs84(metres_box(0, 0, 400, 400))]))
    b = run(db, write(tmp_path / "b.geojson", [wgs84(metres_box(399.7, 0, 800, 400))]), code="110101952",
            name="邻街道")
    assert b["action"] == "created" and any("sliver overlap" in w for w in b["warnings"])
    overlap = db.execute(text("""SELECT ST_Area(ST_Intersection(a.boundary, b.boundary)::geography)
                                 FROM subdistricts a, subdistricts b WHERE a.code = :a AND b.code = :b"""),
                         {"a": SD, "b": "110101952"}).scalar_one()
    assert overlap < 0.01


@pytest.mark.parametrize(("code", "says"), [("11010195", "9 digits"), ("990101001", "province"),
                                            ("110101000", "serial is 000"), ("11010a951", "9 digits")])
def test_a_bad_code_is_refused(code, says):
    with pytest.raises(InvalidInput) as caught:
        check_code(code)
    assert says in caught.value.message and caught.value.where == "code"


def test_files_without_a_usable_boundary_are_refused_by_name(db, tmp_path):
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    assert "empty.geojson" in refused(db, empty).message
    garbage = tmp_path / "broken.gpkg"
    garbage.write_bytes(b"not a geopackage at all")
    assert "broken.gpkg" in refused(db, garbage).message
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        shp = write(tmp_path / "noprj.shp", [wgs84(metres_box(0, 0, 100, 100))], None, "ESRI Shapefile")
    assert not shp.with_suffix(".prj").exists()
    assert "noprj.shp does not say which CRS" in refused(db, shp).message
    good = write(tmp_path / "good.geojson", [wgs84(metres_box(0, 0, 100, 100))])
    assert "unknown CRS" in refused(db, good, crs="EPSG:999999").message
    assert "a boundary file is GeoJSON" in refused(db, tmp_path / "table.csv").message


# --- replacing a boundary --------------------------------------------------------------------

@pytest.fixture
def town(db):
    """A sub-district of 800 × 600 m (version 1) with two L1 zones, west and east; a building
    with five households and a shop in the east one."""
    t = Territory(db, SD, metres_box(0, 0, 800, 600))
    t.grid("001", metres_box(0, 0, 400, 600))
    t.grid("002", metres_box(400, 0, 800, 600))
    t.building(700, 300, households=5)
    t.shop(750, 100)
    return t


def _smaller_and_taller(tmp_path) -> Path:
    """600 × 700 m: the east zone spills out by 200 × 600 m, a strip 600 × 100 m in the north is new."""
    return write(tmp_path / "新边界.geojson", [wgs84(metres_box(0, 0, 600, 700))])


def _check_impact(impact: dict) -> None:
    [grid] = impact["grids_outside"]
    assert grid["code"] == SD + "002" and not grid["wholly"] and grid["outside_before_m2"] == 0
    assert grid["outside_m2"] == pytest.approx(200 * 600, rel=5e-3)
    assert (impact["buildings_outside"]["count"], impact["buildings_outside"]["newly"]) == (1, 1)
    assert impact["households_outside"] == 5
    assert impact["shops_outside"]["count"] == 1 and impact["units_outside"]["count"] == 0
    assert impact["newly_uncovered_m2"] == pytest.approx(600 * 100, rel=5e-3)
    assert impact["area_after_m2"] == pytest.approx(600 * 700, rel=5e-3)


def test_a_second_import_replaces_the_boundary_as_version_2(db, town, tmp_path):
    report = run(db, _smaller_and_taller(tmp_path), name="测试街道（调整后）")
    assert (report["action"], report["version_before"], report["version_after"]) == ("replaced", 1, 2)
    _check_impact(report["impact"])
    boundary, version, name = stored(db)
    assert (version, name) == (2, "测试街道（调整后）")
    assert metres_apart(boundary, wgs84(metres_box(0, 0, 600, 700))) < 0.05
    history = db.execute(text("SELECT version, name, reason, operation, valid_to IS NULL FROM subdistrict_versions "
                              "WHERE code = :c ORDER BY version"), {"c": SD}).all()
    assert [tuple(r) for r in history] == [(1, "测试街道", "hand-built territory", "create", False),
                                           (2, "测试街道（调整后）", "导入边界 新边界.geojson", "replace", True)]
    again = run(db, _smaller_and_taller(tmp_path), name="测试街道（调整后）", reason="再次导入")
    assert (again["action"], again["version_after"]) == ("unchanged", 2)


def test_a_dry_run_reports_everything_and_keeps_nothing(db, town, tmp_path):
    before = stored(db)
    audit = db.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    report = run(db, _smaller_and_taller(tmp_path), dry_run=True)
    assert report["dry_run"] and report["version_after"] == 2
    _check_impact(report["impact"])
    after = stored(db)
    assert after[1:] == before[1:] and after[0].equals(before[0])
    assert db.execute(text("SELECT count(*) FROM subdistrict_versions WHERE code = :c"), {"c": SD}).scalar_one() == 1
    assert db.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audit
    run(db, write(tmp_path / "new.geojson", [wgs84(metres_box(3000, 0, 3400, 400))]), code="110101953",
        dry_run=True)
    assert stored(db, "110101953") is None


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def cli_url(engine):
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_territory_cli")
    drop_database(url, "gisgrid_territory_cli")


def _gisgrid(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), "territory", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_cli_creates_replaces_lists_and_shows_history(cli_url, tmp_path):
    first = write(tmp_path / "v1.geojson", [to_gcj02(wgs84(metres_box(0, 0, 800, 600)))])
    second = write(tmp_path / "v2.geojson", [to_gcj02(wgs84(metres_box(0, 0, 600, 700)))])
    created = _gisgrid(cli_url, "import", str(first), "--code", SD, "--name", "测试街道", "--crs", "GCJ-02",
                       "--county", "东城区", "--city", "北京市")
    assert created.returncode == 0, created.stderr
    assert "新建 / created" in created.stdout and "v- → v1" in created.stdout
    dry = _gisgrid(cli_url, "import", str(second), "--code", SD, "--name", "测试街道", "--crs", "GCJ-02", "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stdout and "v1 → v2" in dry.stdout
    replaced = _gisgrid(cli_url, "import", str(second), "--code", SD, "--name", "测试街道", "--crs", "GCJ-02",
                        "--reason", "区划调整", "--json")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["version_after"] == 2
    listed = _gisgrid(cli_url, "list")
    assert listed.returncode == 0 and f"{SD}  测试街道  v2" in listed.stdout and "区划调整" in listed.stdout
    history = _gisgrid(cli_url, "history", SD).stdout.splitlines()
    assert [line.split()[0] for line in history] == ["v1", "v2"] and "区划调整" in history[1]
    bad = _gisgrid(cli_url, "import", str(write(tmp_path / "l.geojson", [LineString([(116.4, 39.9), (116.5, 39.9)])])),
                   "--code", "110101952", "--name", "线")
    assert bad.returncode == 2 and "错误 / error" in bad.stderr and "LineString" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
    engine = create_engine(cli_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM subdistricts")).scalar_one() == 1
            assert conn.execute(text("SELECT version FROM subdistricts")).scalar_one() == 2
    finally:
        engine.dispose()


# --- HTTP ------------------------------------------------------------------------------------

# The scratch database is shared with other modules whose territories commit near the builders'
# origin: these tests draw theirs 150 km north of it.
FAR = 150_000

def _post(client: httpx.Client, path: Path, headers: dict | None = None, **form):
    with path.open("rb") as handle:
        return client.post("/territory/import", files={"file": (path.name, handle.read())},
                           data={"code": SD, "name": "测试街道", **form}, headers=headers)


def test_http_a_city_wide_administrator_creates_lists_and_reads_history(scratch_http, tmp_path):
    code = "110101954"
    made = _post(scratch_http, write(tmp_path / "边界.geojson", [to_gcj02(wgs84(metres_box(5000, FAR, 5400, FAR + 400)))]),
                 code=code, crs="GCJ-02", city="北京市")
    assert made.status_code == 200, made.text
    assert made.json()["action"] == "created" and made.json()["file"] == "边界.geojson"
    listed = scratch_http.get("/territory").json()["items"]
    assert [(s["code"], s["version"], s["city"]) for s in listed if s["code"] == code] == [(code, 1, "北京市")]
    [version] = scratch_http.get(f"/territory/{code}/history").json()
    assert version["reason"] == "导入边界 边界.geojson" and version["changed_by"] == "tests"
    line = _post(scratch_http, write(tmp_path / "line.geojson", [LineString([(116.4, 39.9), (116.5, 39.9)])]),
                 code="110101955")
    assert line.status_code == 422 and "LineString" in line.json()["message"]
    junk = tmp_path / "junk.geojson"
    junk.write_bytes(b"\x00\x01 not json")
    assert _post(scratch_http, junk, code="110101955").status_code == 422
    assert scratch_http.get("/territory/110101955/history").status_code == 404


def test_http_an_administrator_of_one_subdistrict_sees_and_replaces_only_their_own(scratch_http, scratch_engine,
                                                                                   tmp_path):
    from sqlalchemy.orm import Session

    from gisgrid.auth.service import create_account
    from gisgrid.core.enums import Role

    own, other = "110101956", "110101957"
    for code, x in ((own, 7000), (other, 8000)):
        box = write(tmp_path / f"{code}.geojson", [wgs84(metres_box(x, FAR, x + 400, FAR + 400))])
        assert _post(scratch_http, box, code=code).status_code == 200
    with Session(scratch_engine) as session:
        create_account(session, username="sd-admin", display_name="街道管理员", role=Role.ADMIN,
                       password="Jiedao-Guanli-2026x", subdistrict=own)
        session.commit()
    token = scratch_http.post("/auth/sign-in", json={"username": "sd-admin", "password": "Jiedao-Guanli-2026x"})
    mine = {"Authorization": "Bearer " + token.json()["token"]}
    assert [s["code"] for s in scratch_http.get("/territory", headers=mine).json()["items"]] == [own]
    assert scratch_http.get(f"/territory/{other}/history", headers=mine).status_code == 404
    bigger = write(tmp_path / "bigger.geojson", [wgs84(metres_box(7000, FAR, 7500, FAR + 400))])
    assert _post(scratch_http, bigger, mine, code=other).status_code == 403
    replaced = _post(scratch_http, bigger, mine, code=own, reason="扩大辖区")
    assert replaced.status_code == 200 and replaced.json()["version_after"] == 2
    versions = scratch_http.get(f"/territory/{own}/history", headers=mine).json()
    assert [(v["version"], v["changed_by"], v["reason"]) for v in versions][1] == (2, "sd-admin", "扩大辖区")


@pytest.fixture(scope="module")
def demo_tokens(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        return {name: {"Authorization": "Bearer " + client.post("/auth/sign-in", json={
            "username": name, "password": PASSWORDS[name]}).json()["token"]} for name in ("admin", "viewer")}


def test_http_who_may_import(http, demo_tokens, db, demo, tmp_path):
    demo_code, wkb = db.execute(text("SELECT code, ST_AsBinary(boundary) FROM subdistricts ORDER BY code LIMIT 1")).one()
    shrunk = shapely.from_wkb(wkb).buffer(-0.0005)
    path = write(tmp_path / "shrunk.geojson", [shrunk])
    assert _post(http, path, demo_tokens["viewer"], code=demo_code, dry_run="true").status_code == 403
    assert http.get("/territory", headers=demo_tokens["viewer"]).status_code == 403
    other = _post(http, write(tmp_path / "far.geojson", [wgs84(metres_box(0, 0, 100, 100))]), demo_tokens["admin"])
    assert other.status_code == 403 and "city-wide" in other.json()["message"]
    dry = _post(http, path, demo_tokens["admin"], code=demo_code, name="示范街道", dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and dry.json()["impact"]["grids_outside"]
    assert db.execute(text("SELECT version FROM subdistricts WHERE code = :c"), {"c": demo_code}).scalar_one() == 1
