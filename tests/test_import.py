"""`gisgrid import`: every format, CRS handling, column mapping, each refusal with its row,
nothing half-loaded, membership computed, households by address, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import drop_database, fresh_database
from shapely import LineString, MultiPolygon, Point, Polygon
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gisgrid.core import crs
from gisgrid.core.errors import Conflict, InvalidInput
from gisgrid.grids import membership
from gisgrid.imports.report import format_report, write_report
from gisgrid.imports.service import ImportOptions, import_file, load_mapping, parse_map_flags

from builders import Territory, lonlat, metres_box

SD = "110101090"
SD_EAST = "110101091"


def territory(db, code: str = SD, x0: float = 0) -> Territory:
    """A 1 km square sub-district with one L1 zone and two L2 grids (west and east halves)."""
    t = Territory(db, code, metres_box(x0, 0, x0 + 1000, 1000))
    t.grid("001", metres_box(x0, 0, x0 + 1000, 1000))
    t.grid("001001", metres_box(x0, 0, x0 + 500, 1000))
    t.grid("001002", metres_box(x0 + 500, 0, x0 + 1000, 1000))
    return t


def ll(x: float, y: float) -> tuple[float, float]:
    p = lonlat(Point(x, y))
    return p.x, p.y


def footprint(x: float, y: float, w: float = 20, h: float = 10) -> Polygon:
    return lonlat(metres_box(x, y, x + w, y + h))


def options(**kw) -> ImportOptions:
    return ImportOptions(**kw)


def count(db, table: str, where: str = "true", **params) -> int:
    return db.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one()


def refusals(report) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for r in report.refused:
        out.setdefault(r.row, []).append((r.code, r.reason))
    return out


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding=encoding)
    return path


BUILDING_ROWS = [
    {"名称": "1号楼", "地址": "测试路1号", "层数": 6, "单元数": 2, "每层户数": 2, "用途": "住宅"},
    {"名称": "2号楼", "地址": "测试路2号", "层数": "18层", "单元数": 1, "每层户数": 4, "用途": "商住"},
    {"名称": "3号楼", "地址": "测试路3号", "层数": 3, "单元数": 1, "每层户数": 0, "用途": "commercial"},
]


# --- formats ---------------------------------------------------------------------------------

def test_geojson_buildings_keep_footprints_and_derive_the_point_on_surface(db, tmp_path):
    territory(db)
    frame = gpd.GeoDataFrame(
        BUILDING_ROWS,
        geometry=[footprint(100, 100), MultiPolygon([footprint(600, 600)]), lonlat(Point(300, 800))],
        crs="EPSG:4326",
    )
    path = tmp_path / "楼栋.geojson"
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path)
    assert report.ok and report.loaded == 3 and report.written
    assert report.crs == "WGS84"
    rows = db.execute(text("""
        SELECT address, floors, use, ST_GeometryType(footprint), ST_Covers(footprint, geom),
               ST_Equals(geom, ST_PointOnSurface(footprint)), subdistrict_code
        FROM buildings WHERE address LIKE '测试路%' ORDER BY address
    """)).all()
    assert [r[:3] for r in rows] == [("测试路1号", 6, "residential"), ("测试路2号", 18, "mixed"),
                                     ("测试路3号", 3, "commercial")]
    assert rows[0][3:6] == ("ST_Polygon", True, True)
    assert rows[1][3] == "ST_Polygon"  # a MultiPolygon of one part is stored as its Polygon
    assert rows[2][3] is None  # a point building has no footprint
    assert {r[6] for r in rows} == {SD}


def test_membership_is_computed_for_imported_buildings(db, tmp_path):
    t = territory(db)
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:2], geometry=[footprint(100, 100), footprint(700, 300)],
                             crs="EPSG:4326")
    path = tmp_path / "b.geojson"
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path)
    assert report.membership == {"in_grid": 2, "in_no_grid": 0}
    grids = dict(db.execute(text(
        "SELECT address, ARRAY[grid_l1_id, grid_l2_id] FROM buildings WHERE id = ANY(:ids)"),
        {"ids": report.ids}).all())
    assert grids["测试路1号"] == [t.grids["001"].id, t.grids["001001"].id]
    assert grids["测试路2号"] == [t.grids["001"].id, t.grids["001002"].id]


def test_geopackage_units_in_cgcs2000_are_stored_and_join_the_nearest_grid(db, tmp_path):
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 500, 1000))
    t.grid("001001", metres_box(0, 0, 500, 1000))
    frame = gpd.GeoDataFrame(
        {"单位名称": ["测试小学", "测试医院"], "单位类型": ["学校", "医疗"], "地址": ["学府路1号", "学府路9号"],
         "负责人": ["王老师", "李院长"], "联系电话": ["010-1234", "010-5678"]},
        geometry=[lonlat(Point(200, 200)), lonlat(Point(800, 500))], crs="EPSG:4490",
    )
    path = tmp_path / "units.gpkg"
    frame.to_file(path, layer="units", driver="GPKG", engine="pyogrio")
    report = import_file(db, "units", path)
    assert report.ok and report.loaded == 2 and report.crs == "CGCS2000"
    assert report.membership["joined_nearest"] == 1  # the hospital lies in no grid: joined nearest
    row = db.execute(text("SELECT kind, contact_name, contact_phone, grid_l2_id FROM stationed_units "
                          "WHERE name = '测试医院'")).one()
    assert row == ("医疗", "李院长", "010-5678", t.grids["001001"].id)


@pytest.mark.filterwarnings("ignore:Could not decode error message")
def test_shapefile_with_chinese_attributes_in_a_projected_crs(db, tmp_path):
    territory(db)
    truth = [footprint(100, 100), footprint(400, 600, 30, 12)]
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:2], geometry=truth, crs="EPSG:4326").to_crs("EPSG:4548")
    path = tmp_path / "楼栋.shp"
    frame.to_file(path, engine="pyogrio", encoding="GBK")  # a .cpg saying GBK, a .prj in EPSG:4548
    report = import_file(db, "buildings", path)
    assert report.ok and report.loaded == 2 and report.crs == "EPSG:4548"
    stored = gpd.read_postgis(
        text("SELECT address, footprint FROM buildings WHERE id = ANY(:ids) ORDER BY address"),
        db.connection(), geom_col="footprint", params={"ids": report.ids})
    assert list(stored["address"]) == ["测试路1号", "测试路2号"]
    for geom, expected in zip(stored.geometry, truth, strict=True):
        assert geom.symmetric_difference(expected).area < 1e-12  # within centimetres


@pytest.mark.filterwarnings("ignore:Could not decode error message")
def test_utf8_shapefile_with_field_names_cut_mid_character(db, tmp_path):
    """UTF-8 field names longer than 10 bytes are cut by the format, leaving broken bytes."""
    territory(db)
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:1], geometry=[footprint(100, 100)], crs="EPSG:4326")
    path = tmp_path / "utf8.shp"
    frame.to_file(path, engine="pyogrio")  # 每层户数 is 12 bytes in UTF-8
    report = import_file(db, "buildings", path, options(mapping={"flats_per_floor": "每层户"}))
    assert report.loaded == 1
    assert any("broken characters were dropped" in w for w in report.warnings)
    assert count(db, "buildings", "address = '测试路1号' AND name = '1号楼' AND flats_per_floor = 2") == 1


def test_shapefile_in_gbk_without_cpg_is_decoded(db, tmp_path):
    territory(db)
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:1], geometry=[footprint(100, 100)], crs="EPSG:4326")
    path = tmp_path / "gbk.shp"
    frame.to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    report = import_file(db, "buildings", path)
    assert report.loaded == 1
    assert any("GB18030" in w for w in report.warnings)
    assert count(db, "buildings", "address = '测试路1号' AND name = '1号楼'") == 1


@pytest.mark.filterwarnings("ignore:Could not decode error message")
def test_shapefile_without_prj_needs_crs(db, tmp_path):
    territory(db)
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:1], geometry=[footprint(100, 100)], crs="EPSG:4326")
    path = tmp_path / "noprj.shp"
    frame.to_file(path, engine="pyogrio")
    path.with_suffix(".prj").unlink()
    with pytest.raises(InvalidInput, match="--crs"):
        import_file(db, "buildings", path)
    assert import_file(db, "buildings", path, options(crs="WGS84")).loaded == 1


def test_csv_in_utf8_with_wgs84(db, tmp_path):
    territory(db)
    rows = [{**r, "经度": ll(100 + 100 * i, 500)[0], "纬度": ll(100 + 100 * i, 500)[1]}
            for i, r in enumerate(BUILDING_ROWS)]
    path = write_csv(tmp_path / "b.csv", rows, encoding="utf-8-sig")
    report = import_file(db, "buildings", path, options(crs="WGS84"))
    assert report.ok and report.loaded == 3 and report.format == "CSV"


def test_csv_in_gbk_with_gcj02_coordinates_is_converted_within_a_metre(db, tmp_path):
    territory(db)
    truth = [(250, 250), (500, 500), (750, 750)]
    rows = []
    for (x, y), base in zip(truth, BUILDING_ROWS, strict=True):
        lon, lat = crs.wgs84_to_gcj02(*ll(x, y))
        rows.append({**base, "lng": float(lon), "lat": float(lat)})
    path = write_csv(tmp_path / "gbk.csv", rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    report = import_file(db, "buildings", path, options(crs="gcj02"))
    assert report.ok and report.loaded == 3 and report.crs == "GCJ-02"
    for (x, y), base in zip(truth, BUILDING_ROWS, strict=True):
        lon, lat = ll(x, y)
        metres = db.execute(text("""
            SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
            FROM buildings WHERE address = :a
        """), {"lon": lon, "lat": lat, "a": base["地址"]}).scalar_one()
        assert metres < 1.0


def test_excel_shops_in_bd09(db, tmp_path):
    territory(db)
    lon, lat = crs.gcj02_to_bd09(*crs.wgs84_to_gcj02(*ll(300, 300)))
    frame = pd.DataFrame([
        {"店名": "老王面馆", "业态": "餐饮", "经营地址": "测试路5号", "电话": "13800000000",
         "营业执照": "91110101MA00000000", "经度": float(lon), "纬度": float(lat)},
        {"店名": "便民超市", "业态": "零售", "经营地址": "测试路5号", "电话": None,
         "营业执照": None, "经度": float(lon), "纬度": float(lat)},
    ])
    path = tmp_path / "商铺.xlsx"
    frame.to_excel(path, index=False, sheet_name="商铺")
    report = import_file(db, "shops", path, options(crs="BD-09"))
    assert report.ok and report.loaded == 2, format_report(report)
    rows = db.execute(text("SELECT name, kind, licence_no, contact_phone FROM shops "
                           "WHERE id = ANY(:ids) ORDER BY name"), {"ids": report.ids}).all()
    assert rows == [("便民超市", "零售", None, None), ("老王面馆", "餐饮", "91110101MA00000000", "13800000000")]


# --- CRS rules -------------------------------------------------------------------------------

def test_csv_without_crs_is_refused_with_a_clear_message(db, tmp_path):
    territory(db)
    path = write_csv(tmp_path / "b.csv", [{**BUILDING_ROWS[0], "lon": ll(1, 1)[0], "lat": ll(1, 1)[1]}])
    with pytest.raises(InvalidInput, match="GCJ-02") as info:
        import_file(db, "buildings", path)
    assert info.value.where == "crs"
    assert count(db, "buildings", "address = '测试路1号'") == 0


def test_a_declared_crs_contradicting_crs_is_an_error_but_gcj02_over_wgs84_is_allowed(db, tmp_path):
    territory(db)
    mercator = tmp_path / "m.gpkg"
    gpd.GeoDataFrame(BUILDING_ROWS[:1], geometry=[footprint(100, 100)], crs="EPSG:4326") \
        .to_crs("EPSG:3857").to_file(mercator, engine="pyogrio")
    with pytest.raises(InvalidInput, match="contradicts"):
        import_file(db, "buildings", mercator, options(crs="EPSG:4548"))
    with pytest.raises(InvalidInput, match="lon/lat"):
        import_file(db, "buildings", mercator, options(crs="GCJ-02"))
    assert import_file(db, "buildings", mercator, options(crs="EPSG:3857")).loaded == 1

    lon, lat = crs.wgs84_to_gcj02(*ll(600, 600))
    amap = tmp_path / "amap.geojson"
    gpd.GeoDataFrame(BUILDING_ROWS[1:2], geometry=[Point(float(lon), float(lat))], crs="EPSG:4326") \
        .to_file(amap, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", amap, options(crs="GCJ-02"))
    assert report.loaded == 1 and report.crs == "GCJ-02"
    metres = db.execute(text("""
        SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
        FROM buildings WHERE address = '测试路2号'"""), dict(zip(("lon", "lat"), ll(600, 600), strict=True))).scalar_one()
    assert metres < 1.0


# --- mapping ---------------------------------------------------------------------------------

ODD_ROWS = [
    {"楼宇门牌": "映射路1号", "地上楼层": 5, "x坐标": ll(100, 100)[0], "y坐标": ll(100, 100)[1], "备注": "无"},
    {"楼宇门牌": "映射路2号", "地上楼层": 7, "x坐标": ll(200, 100)[0], "y坐标": ll(200, 100)[1], "备注": ""},
]


def test_columns_mapped_by_flags(db, tmp_path):
    territory(db)
    path = write_csv(tmp_path / "odd.csv", ODD_ROWS)
    with pytest.raises(InvalidInput, match="地址") as info:
        import_file(db, "buildings", path, options(crs="WGS84"))
    assert "楼宇门牌" in info.value.message  # the error lists the file's columns
    mapping = parse_map_flags(["address=楼宇门牌", "floors=地上楼层", "lon=x坐标", "lat=y坐标"])
    report = import_file(db, "buildings", path, options(crs="WGS84", mapping=mapping))
    assert report.ok and report.loaded == 2
    assert any("备注" in w for w in report.warnings)  # unused columns are named
    assert any("entrances" in w for w in report.warnings)  # defaults that stand in are named
    row = db.execute(text("SELECT name, floors, entrances, flats_per_floor, use FROM buildings "
                          "WHERE address = '映射路1号'")).one()
    assert row == ("映射路1号", 5, 1, 0, "residential")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_columns_mapped_by_a_file(db, tmp_path, suffix):
    territory(db)
    path = write_csv(tmp_path / "odd.csv", ODD_ROWS)
    mapping_file = tmp_path / f"mapping{suffix}"
    if suffix == ".json":
        mapping_file.write_text(json.dumps({"address": "楼宇门牌", "floors": "地上楼层", "lon": "x坐标",
                                            "lat": "y坐标"}, ensure_ascii=False), encoding="utf-8")
    else:
        mapping_file.write_text("address: 楼宇门牌\nfloors: 地上楼层\nlon: x坐标\nlat: y坐标\n", encoding="utf-8")
    report = import_file(db, "buildings", path, options(crs="WGS84", mapping=load_mapping(mapping_file)))
    assert report.loaded == 2


def test_bad_mappings_are_clear_errors(db, tmp_path):
    territory(db)
    path = write_csv(tmp_path / "odd.csv", ODD_ROWS)
    with pytest.raises(InvalidInput, match="not a field of buildings"):
        import_file(db, "buildings", path, options(crs="WGS84", mapping={"楼宇门牌": "address"}))
    with pytest.raises(InvalidInput, match="no column '门牌'"):
        import_file(db, "buildings", path, options(crs="WGS84", mapping={"address": "门牌"}))
    with pytest.raises(InvalidInput, match="FIELD=COLUMN"):
        parse_map_flags(["address"])
    bad = tmp_path / "m.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="must map field names"):
        load_mapping(bad)


# --- refusals --------------------------------------------------------------------------------

def test_each_refusal_has_its_row_and_reason_and_the_rest_loads(db, tmp_path):
    t = territory(db)
    existing = t.building(900, 900)  # its address is already in the database

    def row(address, x, y, **kw):
        lon, lat = ll(x, y)
        return {"名称": "楼", "地址": address, "层数": 6, "用途": "住宅", "经度": lon, "纬度": lat, **kw}

    lon, lat = ll(400, 400)
    rows = [
        row("好路1号", 100, 100),                                 # row 2: fine
        {**row("好路2号", 0, 0), "经度": ""},                      # row 3: missing lon
        {**row("好路3号", 0, 0), "经度": lat, "纬度": lon},         # row 4: swapped, lat > 90
        row("好路4号", 200, 200, 层数="abc"),                      # row 5: not a number
        row("", 300, 300),                                         # row 6: no address
        row("好 路 1 号", 150, 150),                               # row 7: duplicate of row 2
        row("好路7号", 5000, 5000),                                # row 8: outside the sub-district
        row(existing.address, 250, 250),                          # row 9: already in the database
        {**row("好路9号", 0, 0), "经度": -lon},                     # row 10: lost minus sign
        row("好路10号", 350, 350, 用途="仓库"),                      # row 11: unknown use
        row("好路11号", 450, 450, 层数=0),                          # row 12: out of range
        {**row("好路12号", 0, 0), "经度": "东经116"},                # row 13: not a number
        {**row("好路13号", 0, 0), "经度": "NaN"},                   # row 14: NaN
        row("好路14号", 550, 550),                                 # row 15: fine
        {**row("好路15号", 0, 0), "经度": 500000.0, "纬度": 4420000.0},  # row 16: projected
    ]
    path = write_csv(tmp_path / "b.csv", rows)
    report = import_file(db, "buildings", path, options(crs="WGS84"))
    got = refusals(report)
    assert report.rows == 15 and report.loaded == 2 and report.refused_rows == 13
    expected = {
        3: ("bad_geometry", "missing coordinates"),
        4: ("bad_geometry", "apparently swapped"),
        5: ("bad_value", "not a whole number"),
        6: ("missing_value", "address is empty"),
        7: ("duplicate", "same as row 2"),
        8: ("outside_subdistrict", "outside every sub-district"),
        9: ("duplicate", "already in the database"),
        10: ("bad_geometry", "wrong hemisphere"),
        11: ("bad_value", "is not one of"),
        12: ("bad_value", "out of range 1–200"),
        13: ("bad_geometry", "not numbers"),
        14: ("bad_geometry", "not finite"),
        16: ("bad_geometry", "projected coordinates"),
    }
    assert set(got) == set(expected)
    for number, (code, words) in expected.items():
        assert any(c == code and words in reason for c, reason in got[number]), (number, got[number])
    assert count(db, "buildings", "address IN ('好路1号', '好路14号')") == 2
    text_report = format_report(report)
    assert "拒绝 / refused" in text_report and "header is row 1" in text_report


def test_geometry_refusals_in_a_geojson(db, tmp_path):
    territory(db)
    bow_tie = lonlat(Polygon([(100, 100), (200, 200), (200, 100), (100, 200), (100, 100)]))
    two_parts = MultiPolygon([footprint(300, 300), footprint(400, 400)])
    round_tower = lonlat(Point(700, 700).buffer(30, quad_segs=2600))  # 10,401 vertices
    geometries = [footprint(100, 500), bow_tie, two_parts, lonlat(LineString([(0, 0), (10, 10)])), None,
                  round_tower]
    rows = [{"地址": f"几何路{i}号", "层数": 3} for i in range(6)]
    path = tmp_path / "g.geojson"
    gpd.GeoDataFrame(rows, geometry=geometries, crs="EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path)
    got = {row: reasons[0][1] for row, reasons in refusals(report).items()}
    assert report.loaded == 1
    assert "Self-intersection" in got[2]
    assert "2 separate parts" in got[3]
    assert "LineString" in got[4]
    assert "missing geometry" in got[5]
    assert "too many vertices" in got[6]
    assert "features numbered from 1" in report.row_numbering


def test_rows_outside_the_named_subdistrict_are_refused(db, tmp_path):
    territory(db, SD)
    territory(db, SD_EAST, x0=1000)
    rows = [{"地址": "两街路1号", "层数": 3, "lon": ll(200, 200)[0], "lat": ll(200, 200)[1]},
            {"地址": "两街路2号", "层数": 3, "lon": ll(1200, 200)[0], "lat": ll(1200, 200)[1]}]
    path = write_csv(tmp_path / "b.csv", rows)
    report = import_file(db, "buildings", path, options(crs="WGS84", subdistrict=SD))
    assert report.loaded == 1
    assert refusals(report)[3][0][0] == "outside_subdistrict"
    assert f"inside sub-district {SD_EAST}, not {SD}" in refusals(report)[3][0][1]
    with pytest.raises(InvalidInput, match="no sub-district"):
        import_file(db, "buildings", path, options(crs="WGS84", subdistrict="110101099"))
    # Without --subdistrict each row goes to the sub-district that covers it.
    rows[0]["地址"], rows[1]["地址"] = "两街路3号", "两街路4号"
    report = import_file(db, "buildings", write_csv(tmp_path / "c.csv", rows), options(crs="WGS84"))
    assert report.subdistricts == {SD: 1, SD_EAST: 1}


def test_strict_and_dry_run_write_nothing(db, tmp_path):
    territory(db)
    rows = [{"地址": "严格路1号", "层数": 3, "lon": ll(200, 200)[0], "lat": ll(200, 200)[1]},
            {"地址": "严格路2号", "层数": -1, "lon": ll(300, 200)[0], "lat": ll(300, 200)[1]}]
    path = write_csv(tmp_path / "b.csv", rows)
    strict = import_file(db, "buildings", path, options(crs="WGS84", strict=True))
    assert (strict.written, strict.loaded, strict.accepted, strict.refused_rows) == (False, 0, 1, 1)
    assert "nothing was written" in format_report(strict)
    dry = import_file(db, "buildings", path, options(crs="WGS84", dry_run=True))
    assert (dry.written, dry.loaded, dry.accepted) == (False, 0, 1)
    assert count(db, "buildings", "address LIKE '严格路%'") == 0
    # The temporary staging table is gone either way, so a real run follows cleanly.
    assert import_file(db, "buildings", path, options(crs="WGS84")).loaded == 1


def test_a_database_error_mid_write_leaves_nothing_behind(db, tmp_path, monkeypatch):
    territory(db)
    rows = [{"地址": "回滚路1号", "层数": 3, "lon": ll(200, 200)[0], "lat": ll(200, 200)[1]}]
    path = write_csv(tmp_path / "b.csv", rows)

    def failing_refresh(session, **kw):
        session.execute(text("SELECT 1 / 0"))

    monkeypatch.setattr("gisgrid.imports.service.membership.refresh", failing_refresh)
    with pytest.raises(Conflict, match="nothing was written"):
        import_file(db, "buildings", path, options(crs="WGS84"))
    assert count(db, "buildings", "address = '回滚路1号'") == 0
    monkeypatch.undo()
    assert import_file(db, "buildings", path, options(crs="WGS84")).loaded == 1


def test_unreadable_and_empty_files_are_clear_errors(db, tmp_path):
    territory(db)
    with pytest.raises(InvalidInput, match="no such file"):
        import_file(db, "buildings", tmp_path / "missing.csv")
    (tmp_path / "x.dwg").write_text("?")
    with pytest.raises(InvalidInput, match="unsupported file type"):
        import_file(db, "buildings", tmp_path / "x.dwg")
    (tmp_path / "broken.geojson").write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read"):
        import_file(db, "buildings", tmp_path / "broken.geojson")
    (tmp_path / "header.csv").write_text("地址,层数,lon,lat\n")
    with pytest.raises(InvalidInput, match="no data rows"):
        import_file(db, "buildings", tmp_path / "header.csv", options(crs="WGS84"))
    with pytest.raises(InvalidInput, match="unknown import kind"):
        import_file(db, "trees", tmp_path / "header.csv")


def test_report_files(db, tmp_path):
    territory(db)
    rows = [{"地址": "报告路1号", "层数": 3, "lon": ll(200, 200)[0], "lat": ll(200, 200)[1]},
            {"地址": "报告路2号", "层数": "x", "lon": ll(300, 200)[0], "lat": ll(300, 200)[1]}]
    report = import_file(db, "buildings", write_csv(tmp_path / "b.csv", rows), options(crs="WGS84"))
    write_report(report, tmp_path / "r.json")
    body = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert body["loaded"] == 1 and body["refused"][0]["row"] == 3 and body["refusals_by_code"] == {"bad_value": 1}
    write_report(report, tmp_path / "r.csv")
    refused = pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig")
    assert list(refused["行/row"]) == [3] and refused["值/value"][0] == "x"


# --- households ------------------------------------------------------------------------------

def test_households_attach_to_buildings_by_address(db, tmp_path):
    t = territory(db)
    frame = gpd.GeoDataFrame(BUILDING_ROWS[:2], geometry=[footprint(100, 100), footprint(600, 600)],
                             crs="EPSG:4326")
    buildings = tmp_path / "b.geojson"
    frame.to_file(buildings, driver="GeoJSON", engine="pyogrio")
    assert import_file(db, "buildings", buildings).loaded == 2
    other = t.building(800, 100)  # in the database already, referred to by id
    membership.refresh(db, subdistrict=SD)
    rows = [
        {"楼栋地址": "测试路1号", "单元": "1单元", "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 3},
        {"楼栋地址": "测试路 １ 号", "单元": 2, "楼层": 6, "房号": "602", "居住状态": "出租", "人数": 2},  # same building
        {"楼栋地址": "测试路2号", "单元": 1, "楼层": 18, "房号": "1801", "居住状态": "vacant", "人数": 0},
        {"楼栋地址": "测试路9号", "单元": 1, "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 1},  # row 5: unknown
        {"楼栋地址": "测试路1号", "单元": 1, "楼层": 7, "房号": "701", "居住状态": "自住", "人数": 1},  # row 6: too high
        {"楼栋地址": "测试路1号", "单元": 3, "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 1},  # row 7: entrance
        {"楼栋地址": "测试路1号", "单元": 1, "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 5},  # row 8: dup of 2
        {"楼栋地址": "测试路2号", "单元": 1, "楼层": 2, "房号": "201", "居住状态": "借住", "人数": 1},  # row 9: bad value
        {"楼栋地址": "", "楼栋编号": other.id, "单元": 1, "楼层": 1, "房号": "103", "居住状态": "自住", "人数": 2},
    ]
    path = write_csv(tmp_path / "住户.csv", rows)
    report = import_file(db, "households", path)
    got = refusals(report)
    assert report.loaded == 4, format_report(report)
    assert got[5][0][0] == "unknown_building" and "import the buildings first" in got[5][0][1]
    assert got[6][0][0] == "bad_value" and "above the building's 6 floor(s)" in got[6][0][1]
    assert got[7][0][0] == "bad_value" and "2 entrance(s)" in got[7][0][1]
    assert got[8][0][0] == "duplicate" and "row 2" in got[8][0][1]
    assert got[9][0][0] == "bad_value" and "occupancy" in got[9][0][1]
    assert report.membership == {"in_grid": 4, "in_no_grid": 0}
    stored = db.execute(text("""
        SELECT b.address, h.entrance, h.floor, h.room, h.occupancy, h.member_count
        FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE h.id = ANY(:ids) ORDER BY h.id"""), {"ids": report.ids}).all()
    assert stored == [("测试路1号", 1, 1, "101", "owner", 3), ("测试路1号", 2, 6, "602", "rented", 2),
                      ("测试路2号", 1, 18, "1801", "vacant", 0), (other.address, 1, 1, "103", "owner", 2)]
    # Importing the same file again: every household is already there.
    again = import_file(db, "households", path)
    assert again.loaded == 0
    already = {n for n, reasons in refusals(again).items()
               if any(code == "duplicate" and "already in the database" in r for code, r in reasons)}
    assert already == {2, 3, 4, 10}  # row 8 repeats row 2 of the same file: refused as such


def test_households_outside_the_named_subdistrict(db, tmp_path):
    territory(db, SD)
    east = territory(db, SD_EAST, x0=1000)
    building = east.building(1200, 200)
    path = write_csv(tmp_path / "h.csv", [{"楼栋地址": building.address, "楼层": 1, "房号": "101"}])
    report = import_file(db, "households", path, options(subdistrict=SD))
    assert report.loaded == 0 and refusals(report)[2][0][0] == "outside_subdistrict"
    assert import_file(db, "households", path, options(subdistrict=SD_EAST)).loaded == 1


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def scratch_url(engine):
    """A separate database in the same cluster: the CLI subprocess needs committed data."""
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_import_cli_test")
    drop_database(url, "gisgrid_import_cli_test")


def _gisgrid(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_import_end_to_end(scratch_url, tmp_path):
    scratch = create_engine(scratch_url)
    try:
        with Session(scratch) as session, session.begin():
            territory(session, SD)
        rows = [{**r, "lon": ll(100 + 200 * i, 300)[0], "lat": ll(100 + 200 * i, 300)[1]}
                for i, r in enumerate(BUILDING_ROWS)]
        rows[2]["层数"] = "三层"
        path = write_csv(tmp_path / "楼栋.csv", rows)

        dry = _gisgrid(scratch_url, "import", "buildings", str(path), "--crs", "WGS84", "--dry-run")
        assert dry.returncode == 1, dry.stderr
        assert "dry run" in dry.stdout

        missing_crs = _gisgrid(scratch_url, "import", "buildings", str(path))
        assert missing_crs.returncode == 2
        assert "错误 / error" in missing_crs.stderr and "--crs" in missing_crs.stderr
        assert "Traceback" not in missing_crs.stderr + missing_crs.stdout

        report_path = tmp_path / "report.json"
        done = _gisgrid(scratch_url, "import", "buildings", str(path), "--crs", "WGS84",
                        "--subdistrict", SD, "--report", str(report_path))
        assert done.returncode == 1, done.stderr
        assert "拒绝 / refused" in done.stdout and "三层" not in done.stderr
        assert "Traceback" not in done.stderr
        body = json.loads(report_path.read_text(encoding="utf-8"))
        assert body["loaded"] == 2 and body["refused"][0]["row"] == 4

        households = write_csv(tmp_path / "h.csv", [
            {"楼栋地址": "测试路1号", "单元": 1, "楼层": 1, "房号": "101", "人数": 2},
            {"楼栋地址": "测试路2号", "单元": 1, "楼层": 3, "房号": "302", "人数": 4},
        ])
        ok = _gisgrid(scratch_url, "import", "households", str(households))
        assert ok.returncode == 0, ok.stdout + ok.stderr

        with scratch.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM buildings WHERE grid_l2_id IS NOT NULL")).scalar() == 2
            assert conn.execute(text("SELECT sum(member_count) FROM households")).scalar() == 6
    finally:
        scratch.dispose()


def test_cli_has_the_import_command():
    from typer.testing import CliRunner

    from gisgrid.cli import app

    result = CliRunner().invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "buildings" in result.output
