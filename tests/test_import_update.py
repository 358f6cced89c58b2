"""`gisgrid import … --update`: records matched by their natural key change only where the file
differs, moved buildings change grid, data-breaking changes are refused, dry runs and strict
runs write nothing, and every import leaves its audit row."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import drop_database, fresh_database
from shapely import Point
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput
from gisgrid.imports.report import format_report
from gisgrid.imports.service import ImportOptions, import_file

from builders import Territory, lonlat, metres_box

SD = "110101090"


def territory(db) -> Territory:
    """A 1 km square sub-district: one L1 zone, L2 grids west (x < 500 m) and east."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000))
    t.grid("001001", metres_box(0, 0, 500, 1000))
    t.grid("001002", metres_box(500, 0, 1000, 1000))
    return t


def outline(x: float, y: float, *, on_grid: bool = True):
    return lonlat(metres_box(x, y, x + 20, y + 10), on_grid=on_grid)


# address, name, floors, footprint corner (metres)
BUILDINGS = [("更新路1号", "1号楼", 6, (100, 100)), ("更新路2号", "2号楼", 6, (465, 300)),
             ("更新路3号", "3号楼", 6, (100, 500)), ("更新路4号", "4号楼", 6, (700, 700)),
             ("更新路5号", "5号楼", 6, (300, 800))]


def buildings_file(path: Path, rows, *, moves: dict[str, tuple] | None = None, fuzz: float = 0) -> Path:
    """A GeoJSON of building footprints; ``fuzz`` shifts every outline by that many metres, off
    the storage grid, as a file that went through another CRS would."""
    moves = moves or {}
    frame = gpd.GeoDataFrame(
        [{"地址": a, "名称": n, "层数": f, "单元数": 2, "每层户数": 2} for a, n, f, _ in rows],
        geometry=[outline(*(moves.get(a) or (x + fuzz, y)), on_grid=not fuzz) for a, _, _, (x, y) in rows],
        crs="EPSG:4326")
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def stored(db, table: str, columns: str, where: str = "true") -> list[tuple]:
    return [tuple(r) for r in db.execute(text(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY id")).all()]


def changes(report) -> set[tuple[int, str]]:
    return {(c.row, c.field) for c in report.changes}


def test_an_update_changes_exactly_the_records_and_fields_that_differ(db, tmp_path):
    t = territory(db)
    first = import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS))
    assert first.added == 5 and first.loaded == 5
    ids = dict(db.execute(text("SELECT address, id FROM buildings WHERE address LIKE '更新路%'")).all())
    before = stored(db, "buildings", "address, name, floors, entrances, ST_AsEWKB(geom), ST_AsEWKB(footprint), "
                    "grid_l2_id", "address LIKE '更新路%'")
    assert {r[0]: r[6] for r in before}["更新路2号"] == t.grids["001001"].id

    rows = [("更新路1号", "一号楼", 6, (100, 100)), ("更新路2号", "2号楼", 6, (465, 300)),
            ("更新路3号", "3号楼", 9, (100, 500)), ("更新路4号", "4号楼", 6, (700, 700)),
            ("更新路5号", "5号楼", 6, (300, 800)), ("更新路6号", "6号楼", 4, (600, 100))]
    # Every outline 5 cm off (unchanged), but building 2 moved 30 m east, into the east grid.
    path = buildings_file(tmp_path / "b2.geojson", rows, moves={"更新路2号": (495, 300)}, fuzz=0.05)
    report = import_file(db, "buildings", path, ImportOptions(update=True))

    assert (report.added, report.changed, report.unchanged, report.loaded) == (1, 3, 2, 4), format_report(report)
    assert report.ok and report.written
    assert changes(report) == {(1, "name"), (2, "geom"), (2, "footprint"), (3, "floors")}
    by_field = {c.field: c for c in report.changes}
    assert (by_field["name"].id, by_field["name"].before, by_field["name"].after) == (ids["更新路1号"], "1号楼",
                                                                                       "一号楼")
    assert (by_field["floors"].before, by_field["floors"].after) == ("6", "9")
    assert by_field["geom"].id == ids["更新路2号"] and by_field["geom"].after.startswith("POINT(")

    after = {r[0]: r for r in stored(db, "buildings", "address, name, floors, entrances, ST_AsEWKB(geom), "
                                     "ST_AsEWKB(footprint), grid_l2_id", "address LIKE '更新路%'")}
    old = {r[0]: r for r in before}
    assert after["更新路1号"] == ("更新路1号", "一号楼", *old["更新路1号"][2:])
    assert after["更新路3号"] == ("更新路3号", "3号楼", 9, *old["更新路3号"][3:])
    for address in ("更新路4号", "更新路5号"):  # within the tolerance: stored geometry untouched
        assert after[address] == old[address]
    moved = after["更新路2号"]
    assert moved[1:4] == old["更新路2号"][1:4] and moved[4] != old["更新路2号"][4]
    assert moved[6] == t.grids["001002"].id  # membership followed the move
    assert after["更新路6号"][2] == 4 and after["更新路6号"][6] == t.grids["001002"].id
    new_id = db.execute(text("SELECT id FROM buildings WHERE address = '更新路6号'")).scalar_one()
    assert report.ids == [ids["更新路1号"], ids["更新路2号"], ids["更新路3号"], new_id]  # written, in row order
    text_report = format_report(report)
    assert "修改 / changed" in text_report and "一号楼" in text_report

    # The same file again: nothing left to change.
    again = import_file(db, "buildings", path, ImportOptions(update=True))
    assert (again.added, again.changed, again.unchanged, again.changes) == (0, 0, 6, [])


def test_columns_the_file_lacks_are_left_as_they_are(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:2]))
    frame = gpd.GeoDataFrame([{"地址": "更新路1号", "名称": "新名"}, {"地址": "更新路9号", "名称": "九号楼"}],
                             geometry=[outline(100, 100), outline(200, 200)], crs="EPSG:4326")
    path = tmp_path / "names.geojson"
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path, ImportOptions(update=True))
    assert (report.changed, report.added) == (1, 0) and changes(report) == {(1, "name")}
    # A new building needs floors, which this file does not have.
    assert [(r.row, r.code, r.field) for r in report.refused] == [(2, "missing_value", "floors")]
    assert stored(db, "buildings", "name, floors, entrances, flats_per_floor", "address LIKE '更新路%'") == \
        [("新名", 6, 2, 2), ("2号楼", 6, 2, 2)]
    # Without --update 层数 stays required.
    with pytest.raises(InvalidInput, match="floors"):
        import_file(db, "buildings", path)


def test_households_member_count_changes(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:1]))
    rows = [{"楼栋地址": "更新路1号", "单元": 1, "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 3},
            {"楼栋地址": "更新路1号", "单元": 1, "楼层": 2, "房号": "201", "居住状态": "出租", "人数": 2}]
    first = import_file(db, "households", write_csv(tmp_path / "h.csv", rows))
    assert first.added == 2
    rows[0]["人数"] = 5
    rows[1]["人数"] = None  # an empty cell leaves the stored count, it does not reset it to 0
    rows.append({"楼栋地址": "更新路 1号", "单元": 2, "楼层": 1, "房号": "101", "居住状态": "自住", "人数": 1})
    report = import_file(db, "households", write_csv(tmp_path / "h2.csv", rows), ImportOptions(update=True))
    assert (report.added, report.changed, report.unchanged) == (1, 1, 1), format_report(report)
    [change] = report.changes
    assert (change.row, change.id, change.field, change.before, change.after) == (2, first.ids[0], "member_count",
                                                                                   "3", "5")
    assert stored(db, "households", "entrance, floor, room, occupancy, member_count",
                  "building_id = (SELECT id FROM buildings WHERE address = '更新路1号')") == \
        [(1, 1, "101", "owner", 5), (1, 2, "201", "rented", 2), (2, 1, "101", "owner", 1)]


def test_shops_contact_changes_and_the_licence_stays(db, tmp_path):
    territory(db)
    x, y = lonlat(Point(300, 300)).coords[0]
    rows = [{"店名": "好邻居超市", "地址": "更新路8号", "类型": "零售", "联系人": "张三", "电话": "13800000000",
             "营业执照": "91110101MA00000001", "lon": x, "lat": y},
            {"店名": "老王面馆", "地址": "更新路8号", "类型": "餐饮", "联系人": "王五", "电话": "13900000000",
             "营业执照": "91110101MA00000002", "lon": x, "lat": y}]
    assert import_file(db, "shops", write_csv(tmp_path / "s.csv", rows), ImportOptions(crs="WGS84")).added == 2
    for r in rows:
        del r["营业执照"]
    rows[1]["电话"] = "13911111111"
    report = import_file(db, "shops", write_csv(tmp_path / "s2.csv", rows), ImportOptions(crs="WGS84", update=True))
    assert (report.changed, report.unchanged) == (1, 1)
    assert [(c.row, c.field, c.before, c.after) for c in report.changes] == \
        [(3, "contact_phone", "13900000000", "13911111111")]
    assert stored(db, "shops", "name, contact_phone, licence_no", "address = '更新路8号'") == \
        [("好邻居超市", "13800000000", "91110101MA00000001"), ("老王面馆", "13911111111", "91110101MA00000002")]


def test_fewer_floors_or_entrances_than_the_households_use_are_refused(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:2]))
    households = [{"楼栋地址": "更新路1号", "单元": 2, "楼层": 6, "房号": "602"}]
    assert import_file(db, "households", write_csv(tmp_path / "h.csv", households)).added == 1
    lower = [("更新路1号", "1号楼", 5, (100, 100)), ("更新路2号", "2号楼", 5, (465, 300))]
    report = import_file(db, "buildings", buildings_file(tmp_path / "b2.geojson", lower), ImportOptions(update=True))
    assert [(r.row, r.code, r.field) for r in report.refused] == [(1, "conflict", "floors")]
    assert "below the household(s) on floor 6" in report.refused[0].reason
    assert report.changed == 1  # building 2 has no households: its floors may go down
    assert stored(db, "buildings", "floors", "address LIKE '更新路%'") == [(6,), (5,)]

    (x1, y1), (x2, y2) = (lonlat(Point(110, 105)).coords[0], lonlat(Point(468, 305)).coords[0])
    one_entrance = write_csv(tmp_path / "e.csv", [{"地址": "更新路1号", "单元数": 1, "lon": x1, "lat": y1},
                                                  {"地址": "更新路2号", "单元数": None, "lon": x2, "lat": y2}])
    refused = import_file(db, "buildings", one_entrance, ImportOptions(crs="WGS84", update=True))
    assert [(r.row, r.code, r.field) for r in refused.refused] == [(2, "conflict", "entrances")]
    # An empty 单元数 is no change (not the default of 1); building 2's point moved within its outline.
    assert changes(refused) == {(3, "geom")}
    assert stored(db, "buildings", "entrances", "address LIKE '更新路%'") == [(2,), (2,)]


def test_a_point_moved_off_the_stored_footprint_is_refused(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:1]))
    x, y = lonlat(Point(160, 100)).coords[0]
    path = write_csv(tmp_path / "p.csv", [{"地址": "更新路1号", "lon": x, "lat": y}])
    report = import_file(db, "buildings", path, ImportOptions(crs="WGS84", update=True))
    assert [(r.code, r.field) for r in report.refused] == [("conflict", "geometry")]
    assert "import its footprint" in report.refused[0].reason


def test_a_key_matching_several_records_is_refused(db, tmp_path):
    t = territory(db)
    for name in ("好邻居超市", "好邻居 超市"):  # two stored shops the key cannot tell apart
        shop = t.shop(300, 300, name=name)
        shop.address = "更新路8号"
    db.flush()
    x, y = lonlat(Point(300, 300)).coords[0]
    path = write_csv(tmp_path / "s.csv", [{"店名": "好邻居超市", "地址": "更新路8号", "电话": "1", "lon": x, "lat": y}])
    report = import_file(db, "shops", path, ImportOptions(crs="WGS84", update=True))
    assert [(r.row, r.code) for r in report.refused] == [(2, "ambiguous")] and report.loaded == 0


def test_dry_run_reports_the_changes_and_stores_nothing(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS))
    before = stored(db, "buildings", "name, floors, ST_AsEWKB(geom), grid_l2_id", "address LIKE '更新路%'")
    rows = [("更新路1号", "一号楼", 6, (100, 100)), *BUILDINGS[1:], ("更新路6号", "6号楼", 4, (600, 100))]
    path = buildings_file(tmp_path / "b2.geojson", rows, moves={"更新路2号": (495, 300)})
    dry = import_file(db, "buildings", path, ImportOptions(update=True, dry_run=True))
    assert (dry.added, dry.changed, dry.unchanged, dry.loaded, dry.written) == (1, 2, 3, 0, False)
    assert changes(dry) == {(1, "name"), (2, "geom"), (2, "footprint")}
    assert "would change" in format_report(dry) and "dry run" in format_report(dry)
    assert stored(db, "buildings", "name, floors, ST_AsEWKB(geom), grid_l2_id", "address LIKE '更新路%'") == before
    # What the dry run said is what the real run does.
    real = import_file(db, "buildings", path, ImportOptions(update=True))
    assert (real.added, real.changed, real.unchanged) == (1, 2, 3) and real.changes == dry.changes


def test_strict_update_with_a_refused_row_writes_nothing(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:2]))
    frame = gpd.GeoDataFrame([{"地址": "更新路1号", "名称": "一号楼", "层数": 6},
                              {"地址": "更新路2号", "名称": "二号楼", "层数": "很高"}],
                             geometry=[outline(100, 100), outline(465, 300)], crs="EPSG:4326")
    path = tmp_path / "bad.geojson"
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path, ImportOptions(update=True, strict=True))
    assert (report.changed, report.loaded, report.written, report.refused_rows) == (1, 0, False, 1)
    assert "nothing was written" in format_report(report)
    assert stored(db, "buildings", "name", "address LIKE '更新路%'") == [("1号楼",), ("2号楼",)]


def test_without_update_an_existing_key_is_still_a_duplicate(db, tmp_path):
    territory(db)
    import_file(db, "buildings", buildings_file(tmp_path / "b.geojson", BUILDINGS[:2]))
    rows = [("更新路1号", "一号楼", 9, (100, 100)), BUILDINGS[1]]
    report = import_file(db, "buildings", buildings_file(tmp_path / "b2.geojson", rows))
    assert {(r.row, r.code) for r in report.refused} == {(1, "duplicate"), (2, "duplicate")}
    assert (report.loaded, report.changed, report.changes) == (0, 0, [])
    assert stored(db, "buildings", "name, floors", "address LIKE '更新路%'") == [("1号楼", 6), ("2号楼", 6)]
    # Within one file the first row still wins, with --update too.
    twice = [BUILDINGS[0], ("更新路1号", "一号楼", 9, (100, 100))]
    again = import_file(db, "buildings", buildings_file(tmp_path / "b3.geojson", twice), ImportOptions(update=True))
    assert [(r.row, r.code) for r in again.refused] == [(2, "duplicate")] and again.unchanged == 1


def test_every_import_leaves_one_audit_row(db, tmp_path):
    territory(db)
    path = buildings_file(tmp_path / "楼栋.geojson", BUILDINGS[:2])
    latest = "SELECT actor, action, object_type, outcome, detail FROM audit_log WHERE action = 'import' " \
             "ORDER BY id DESC LIMIT 1"
    import_file(db, "buildings", path, ImportOptions(actor="王主任"))
    actor, action, object_type, outcome, detail = db.execute(text(latest)).one()
    assert (actor, action, object_type, outcome) == ("王主任", "import", "buildings", "ok")
    assert detail["file"] == "楼栋.geojson"
    assert (detail["added"], detail["changed"], detail["unchanged"], detail["refused"]) == (2, 0, 0, 0)
    import_file(db, "buildings", path, ImportOptions(update=True, dry_run=True))
    actor, _, _, outcome, detail = db.execute(text(latest)).one()
    assert (actor, outcome, detail["unchanged"], detail["dry_run"]) == ("gisgrid", "dry_run", 2, True)


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def scratch_url(engine):
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_import_update_test")
    drop_database(url, "gisgrid_import_update_test")


def test_cli_update(scratch_url, tmp_path):
    scratch = create_engine(scratch_url)
    env = {**os.environ, "GISGRID_DATABASE_URL": scratch_url}

    def gisgrid(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), "import", *args],
                              capture_output=True, text=True, env=env, timeout=300)

    try:
        with Session(scratch) as session, session.begin():
            east = territory(session).grids["001002"].id
        first = gisgrid("buildings", str(buildings_file(tmp_path / "b.geojson", BUILDINGS)))
        assert first.returncode == 0, first.stdout + first.stderr
        rows = [("更新路1号", "一号楼", 6, (100, 100)), *BUILDINGS[1:]]
        path = buildings_file(tmp_path / "b2.geojson", rows, moves={"更新路2号": (495, 300)})
        duplicate = gisgrid("buildings", str(path))
        assert duplicate.returncode == 1 and "already in the database" in duplicate.stdout

        report_path = tmp_path / "report.json"
        done = gisgrid("buildings", str(path), "--update", "--report", str(report_path))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "修改 / changed" in done.stdout and "1号楼 → 一号楼" in done.stdout
        assert "Traceback" not in done.stderr
        body = json.loads(report_path.read_text(encoding="utf-8"))
        assert (body["added"], body["changed"], body["unchanged"], body["loaded"]) == (0, 2, 3, 2)
        assert {(c["row"], c["field"]) for c in body["changes"]} == {(1, "name"), (2, "geom"), (2, "footprint")}
        with scratch.connect() as conn:
            assert conn.execute(text("SELECT name FROM buildings WHERE address = '更新路1号'")).scalar() == "一号楼"
            assert conn.execute(text("SELECT grid_l2_id FROM buildings WHERE address = '更新路2号'")).scalar() \
                == east
            audit = conn.execute(text("SELECT actor, outcome, detail->>'changed' FROM audit_log "
                                      "WHERE action = 'import' ORDER BY id")).all()
        cli = f"命令行 / command line: {getpass.getuser()}"
        assert [tuple(a) for a in audit] == [(cli, "ok", "0")] * 2 + [(cli, "ok", "2")]
    finally:
        scratch.dispose()
