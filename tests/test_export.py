"""The export of a sub-district: every layer and sheet with the database's counts and shapes,
residents masked unless the personal data are asked for (and then audited), administrators only
over HTTP; and a round trip through the existing importers into a blank database."""

from __future__ import annotations

import io
import re

import httpx
import openpyxl
import pyogrio
import pytest
import shapely
from conftest import fresh_database
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.scope import WHOLE
from gisgrid.demo.accounts import PASSWORDS
from gisgrid.grids.editing import EditRequest
from gisgrid.grids.layer_import import import_layer
from gisgrid.imports.service import ImportOptions, import_file
from gisgrid.onboarding.export import export

from builders import ready_territory

GPKG_LAYERS = ["boundary", "grids_l1", "grids_l2", "grids_l3", "buildings", "buildings_points", "units", "shops",
               "households", "staff"]
SHEETS = ["边界", "一级网格", "二级网格", "三级网格", "楼栋", "驻区单位", "商铺", "住户", "工作人员", "居民", "说明"]
MASKED_ID = re.compile(r"\d{6}\*{8}\w{4}")


def same_shape(a, b) -> bool:
    return a.geom_type == b.geom_type and shapely.hausdorff_distance(a, b) < 1e-7


def stored(db, sql: str, sd: str) -> dict:
    return {key: shapely.from_wkb(wkb) for key, wkb in db.execute(text(sql), {"sd": sd}).all()}


def database_counts(db, sd: str) -> dict:
    return db.execute(text("""SELECT
        (SELECT count(*) FROM grids WHERE subdistrict_code = :sd AND level = 1 AND retired_at IS NULL) AS grids_l1,
        (SELECT count(*) FROM grids WHERE subdistrict_code = :sd AND level = 2 AND retired_at IS NULL) AS grids_l2,
        (SELECT count(*) FROM grids WHERE subdistrict_code = :sd AND level = 3 AND retired_at IS NULL) AS grids_l3,
        (SELECT count(*) FROM buildings WHERE subdistrict_code = :sd AND footprint IS NOT NULL) AS buildings,
        (SELECT count(*) FROM buildings WHERE subdistrict_code = :sd AND footprint IS NULL) AS buildings_points,
        (SELECT count(*) FROM stationed_units WHERE subdistrict_code = :sd) AS units,
        (SELECT count(*) FROM shops WHERE subdistrict_code = :sd) AS shops,
        (SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id WHERE b.subdistrict_code = :sd)
            AS households,
        (SELECT count(*) FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
         WHERE g.subdistrict_code = :sd AND g.retired_at IS NULL) AS staff"""), {"sd": sd}).one()._asdict()


def test_the_geopackage_holds_every_layer_as_the_database_has_it(db, demo, tmp_path):
    sd = demo.planted[0].subdistrict
    exported = export(db, sd, WHOLE, format="gpkg", with_personal_data=False, actor="test")
    path = tmp_path / exported.filename
    path.write_bytes(exported.content)
    assert [str(name) for name, _ in pyogrio.list_layers(path)] == GPKG_LAYERS
    counts = {layer: pyogrio.read_info(path, layer=layer)["features"] for layer in GPKG_LAYERS}
    assert counts == {"boundary": 1, **database_counts(db, sd)} == exported.counts
    grids = pyogrio.read_dataframe(path, layer="grids_l2")
    assert list(grids.columns) == ["编码", "名称", "上级编码", "geometry"]
    shapes = stored(db, "SELECT code, geom FROM grids WHERE subdistrict_code = :sd AND level = 2", sd)
    assert all(same_shape(g, shapes[code]) for code, g in zip(grids["编码"], grids.geometry, strict=True))
    buildings = pyogrio.read_dataframe(path, layer="buildings")
    assert list(buildings.columns) == ["地址", "名称", "小区", "层数", "单元数", "每层户数", "用途", "geometry"]
    outlines = stored(db, "SELECT address, footprint FROM buildings WHERE subdistrict_code = :sd", sd)
    assert all(same_shape(g, outlines[a]) for a, g in zip(buildings["地址"], buildings.geometry, strict=True))
    shops = pyogrio.read_dataframe(path, layer="shops")
    points = stored(db, "SELECT name || '|' || address, geom FROM shops WHERE subdistrict_code = :sd", sd)
    assert all(same_shape(g, points[f"{n}|{a}"]) for n, a, g in zip(shops["名称"], shops["地址"], shops.geometry,
                                                                  strict=True))
    boundary = pyogrio.read_dataframe(path, layer="boundary")
    assert same_shape(boundary.geometry[0], stored(db, "SELECT code, boundary FROM subdistricts WHERE code = :sd",
                                                   sd)[sd])
    staff = pyogrio.read_dataframe(path, layer="staff", read_geometry=False)
    assert list(staff.columns) == ["姓名", "电话", "角色", "网格编码", "性别", "职务", "党员"]
    assert set(staff["角色"]) >= {"网格长"} and set(staff["党员"]) <= {"是", "否"}
    households = pyogrio.read_dataframe(path, layer="households", read_geometry=False)
    assert list(households.columns) == ["楼栋地址", "单元", "楼层", "房号", "居住状态", "人数"]


def _workbook(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content), read_only=True)


def test_the_workbook_masks_residents_unless_asked_and_then_it_is_audited(db, demo):
    sd = demo.planted[0].subdistrict
    ids = set(demo["residents"]["id_number"].dropna())
    masked = export(db, sd, WHOLE, format="xlsx", with_personal_data=False, actor="test")
    book = _workbook(masked.content)
    assert book.sheetnames == SHEETS
    residents = list(book["居民"].iter_rows(values_only=True))
    assert list(residents[0]) == ["姓名", "性别", "公民身份号码", "出生年份", "联系电话", "楼栋地址", "单元", "楼层", "房号",
                                  "与户主关系", "户籍类型", "党员", "重点人群"]
    assert len(residents) - 1 == masked.counts["residents"] == len(demo["residents"])
    assert all(MASKED_ID.fullmatch(row[2]) for row in residents[1:] if row[2])
    assert not ids & {row[2] for row in residents[1:]}
    assert db.execute(text("SELECT count(*) FROM audit_log WHERE action = 'export.personal_data'")).scalar() == 0
    sheet = list(book["楼栋"].iter_rows(values_only=True))
    assert sheet[0][-1] == "几何" and len(sheet) - 1 == database_counts(db, sd)["buildings"]
    outlines = stored(db, "SELECT address, footprint FROM buildings WHERE subdistrict_code = :sd", sd)
    assert all(same_shape(shapely.from_wkt(row[-1]), outlines[row[0]]) for row in sheet[1:])
    shops = list(book["商铺"].iter_rows(values_only=True))
    assert shops[0][-2:] == ("经度", "纬度")
    points = stored(db, "SELECT name || '|' || address, geom FROM shops WHERE subdistrict_code = :sd", sd)
    assert all(same_shape(shapely.Point(row[-2], row[-1]), points[f"{row[0]}|{row[1]}"]) for row in shops[1:])

    opened = export(db, sd, WHOLE, format="xlsx", with_personal_data=True, actor="test")
    rows = list(_workbook(opened.content)["居民"].iter_rows(values_only=True))[1:]
    assert {row[2] for row in rows if row[2]} == ids
    entry = db.execute(text("SELECT actor, object_id, outcome, detail FROM audit_log "
                            "WHERE action = 'export.personal_data'")).one()
    assert entry[:3] == ("test", sd, "ok") and entry.detail == {"format": "xlsx", "residents": len(rows)}


@pytest.fixture(scope="module")
def tokens(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        return {name: {"Authorization": "Bearer " + client.post("/auth/sign-in", json={
            "username": name, "password": PASSWORDS[name]}).json()["token"]} for name in ("admin", "viewer")}


def test_the_route_is_for_administrators_and_masks_by_default(http, tokens, demo):
    sd = demo.planted[0].subdistrict
    gpkg = http.get("/export", params={"format": "gpkg"}, headers=tokens["admin"], timeout=300)
    assert gpkg.status_code == 200, gpkg.text[:300]
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    assert gpkg.headers["content-disposition"] == f'attachment; filename="gisgrid-{sd}.gpkg"'
    assert http.get("/export", params={"format": "xlsx"}, headers=tokens["viewer"]).status_code == 403
    assert http.get("/export", params={"format": "gpkg", "with_personal_data": "true"},
                    headers=tokens["admin"]).status_code == 422
    assert http.get("/export", params={"format": "gpkg", "subdistrict": "999999999"},
                    headers=tokens["admin"]).status_code == 404
    xlsx = http.get("/export", params={"format": "xlsx"}, headers=tokens["admin"], timeout=300)
    assert xlsx.status_code == 200
    rows = list(_workbook(xlsx.content)["居民"].iter_rows(values_only=True))[1:]
    assert rows and not set(demo["residents"]["id_number"].dropna()) & {row[2] for row in rows}
    assert not set(demo["residents"]["phone"].dropna()) & {row[4] for row in rows}


RT = "110101963"


def test_export_then_import_into_a_blank_database_gives_the_same_records(db, database_url, demo, tmp_path):
    """A territory with every level, footprints and bare points, units and shops: out as a
    GeoPackage, into a blank database through the importers (the boundary by SQL), the same back."""
    ready_territory(db, RT)
    for serial, x0 in ((1, 0), (2, 50)):
        db.execute(text("""INSERT INTO grids (subdistrict_code, level, code, parent_code, serial, name, geom)
                           SELECT g.subdistrict_code, 3, g.code || :suffix, g.code, :serial, '微网格' || :suffix,
                                  ST_Multi(ST_MakeEnvelope(ST_XMin(g.geom) + :x0 * 117e-7, ST_YMin(g.geom),
                                                           ST_XMin(g.geom) + (:x0 + 50) * 117e-7, ST_YMax(g.geom), 4326))
                           FROM grids g WHERE g.code = :parent"""),
                   {"parent": RT + "001001", "suffix": f"{serial:03d}", "serial": serial, "x0": x0})
    db.execute(text("""UPDATE buildings SET footprint = ST_Expand(geom, 0.0001)
                       WHERE subdistrict_code = :sd AND address LIKE '%测试路_50.0-100.0'"""), {"sd": RT})
    db.execute(text("""INSERT INTO stationed_units (subdistrict_code, name, kind, address, contact_phone, geom)
                       SELECT subdistrict_code, '派出所', '机关单位', '测试路1号', '028-1234567', ST_PointOnSurface(geom)
                       FROM grids WHERE code = :grid"""), {"grid": RT + "001002"})
    db.execute(text("""INSERT INTO shops (subdistrict_code, name, kind, address, licence_no, geom)
                       SELECT subdistrict_code, '便利店', '零售', '测试路2号', '91510100MA0000000X', ST_PointOnSurface(geom)
                       FROM grids WHERE code = :grid"""), {"grid": RT + "001004"})
    db.flush()
    path = tmp_path / "territory.gpkg"
    path.write_bytes(export(db, RT, WHOLE, format="gpkg", with_personal_data=False, actor="test").content)
    before = database_counts(db, RT)
    assert before["grids_l3"] == 2 and 0 < before["buildings"] < before["buildings"] + before["buildings_points"]

    from gisgrid.core.database import engine_for

    engine = engine_for(fresh_database(database_url, "gisgrid_export_round_trip"))
    with Session(engine) as blank:
        boundary = pyogrio.read_dataframe(path, layer="boundary").iloc[0]
        blank.execute(text("""INSERT INTO subdistricts (code, name, county, city, boundary)
                              VALUES (:code, :name, :county, :city, ST_GeomFromWKB(:wkb, 4326))"""),
                      {"code": boundary["编码"], "name": boundary["名称"], "county": boundary["区县"],
                       "city": boundary["城市"], "wkb": boundary.geometry.wkb})
        for level in (1, 2, 3):
            dry_run = blank.begin_nested()
            etag = import_layer(blank, EditRequest(actor="test", reason="导入导出的图层", dry_run=True), path,
                                layer=f"grids_l{level}")["etag"]
            dry_run.rollback()
            import_layer(blank, EditRequest(actor="test", reason="导入导出的图层"), path, layer=f"grids_l{level}",
                         expected_etag=etag)
        for kind, layer in (("buildings", "buildings"), ("buildings", "buildings_points"), ("units", "units"),
                            ("shops", "shops"), ("households", "households")):
            report = import_file(blank, kind, path, ImportOptions(layer=layer, strict=True))
            assert report.refused == [] and report.added == pyogrio.read_info(path, layer=layer)["features"]
        blank.commit()
        assert database_counts(blank, RT) == {**before, "staff": 0}  # staff: the staff import's part
        for sql in ("SELECT code, geom FROM grids WHERE subdistrict_code = :sd",
                    "SELECT address, geom FROM buildings WHERE subdistrict_code = :sd",
                    "SELECT address, footprint FROM buildings WHERE subdistrict_code = :sd AND footprint IS NOT NULL",
                    "SELECT name, geom FROM stationed_units WHERE subdistrict_code = :sd",
                    "SELECT name, geom FROM shops WHERE subdistrict_code = :sd"):
            there, back = stored(db, sql, RT), stored(blank, sql, RT)
            assert there.keys() == back.keys() and all(same_shape(there[k], back[k]) for k in there), sql
        households = """SELECT b.address || ' ' || h.entrance || '-' || h.floor || '-' || h.room || ' ' || h.occupancy
                        || ' ' || h.member_count FROM households h JOIN buildings b ON b.id = h.building_id
                        WHERE b.subdistrict_code = :sd"""
        assert set(blank.execute(text(households), {"sd": RT}).scalars()) == \
            set(db.execute(text(households), {"sd": RT}).scalars())
    engine.dispose()
