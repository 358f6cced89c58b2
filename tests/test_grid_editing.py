"""Boundary edits on hand-built grids with known answers, against the real PostGIS."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import text

from gisgrid.core.errors import Conflict, InvalidInput, PreconditionRequired
from gisgrid.grids import operations as ops
from gisgrid.grids.editing import EditRequest

from builders import Territory, lonlat, metres_box

SD = "110101901"


@pytest.fixture
def town(db):
    """400 × 200 m: one L1 zone, two L2 grids (west, east), the west one cut in two L3 grids."""
    t = Territory(db, SD, metres_box(0, 0, 400, 200))
    t.grid("001", metres_box(0, 0, 400, 200))
    t.grid("001001", metres_box(0, 0, 200, 200))
    t.grid("001002", metres_box(200, 0, 400, 200))
    t.grid("001001001", metres_box(0, 0, 200, 100))
    t.grid("001001002", metres_box(0, 100, 200, 200))
    t.grid("001002001", metres_box(200, 0, 400, 200))
    t.west_building = t.building(170, 50, households=10, people_each=3)
    t.east_building = t.building(250, 50, households=20)
    t.north_building = t.building(100, 170, households=5)
    t.shop = t.shop(180, 20)
    from gisgrid.grids import membership

    membership.refresh(db, subdistrict=SD)
    return t


def geo(geom_m) -> dict:
    return mapping(lonlat(geom_m))


def req(versions=None, **kw) -> EditRequest:
    return EditRequest(actor="技术员", reason=kw.pop("reason", "测试调整"), versions=versions or {}, **kw)


def grid(db, code):
    return db.execute(text("SELECT code, name, version, parent_code, retired_at, ST_Area(geom::geography) AS area "
                           "FROM grids WHERE code = :c"), {"c": code}).one()


def member(db, building_id):
    return db.execute(text("SELECT g1.code, g2.code, g3.code FROM buildings b LEFT JOIN grids g1 ON g1.id = b.grid_l1_id "
                           "LEFT JOIN grids g2 ON g2.id = b.grid_l2_id LEFT JOIN grids g3 ON g3.id = b.grid_l3_id "
                           "WHERE b.id = :id"), {"id": building_id}).one()


def test_transfer_moves_area_buildings_and_children(db, town):
    west, east = SD + "001001", SD + "001002"
    report = ops.transfer(db, req({west: 1, east: 1}), west, to=east, area=geo(metres_box(150, -10, 210, 100)))
    assert grid(db, west).area == pytest.approx(35_000, rel=0.004)
    assert grid(db, east).area == pytest.approx(45_000, rel=0.004)
    assert grid(db, west).version == 2 and grid(db, east).version == 2
    # the L3 child gave its part to the east grid's only child
    assert grid(db, SD + "001001001").area == pytest.approx(15_000, rel=0.004)
    assert grid(db, SD + "001002001").area == pytest.approx(45_000, rel=0.004)
    assert tuple(member(db, town.west_building.id)) == (SD + "001", east, SD + "001002001")
    impact = report["impact"]
    assert [b["id"] for b in impact["moves"]["buildings"]] == [town.west_building.id]
    assert impact["households_moved"] == 10 and impact["people_moved"] == 30
    assert [s["id"] for s in impact["moves"]["shops"]] == [town.shop.id]
    loads = {item["code"]: item for item in impact["loads"]}
    assert loads[west]["before"]["households"] == 15 and loads[west]["after"]["households"] == 5
    assert loads[east]["before"]["households"] == 20 and loads[east]["after"]["households"] == 30
    assert impact["defects"]["created"] == []


def test_version_missing_is_428_and_stale_is_409_with_current_shape(db, town):
    west, east = SD + "001001", SD + "001002"
    area = geo(metres_box(150, 0, 200, 100))
    with pytest.raises(PreconditionRequired) as missing:
        ops.transfer(db, req({west: 1}), west, to=east, area=area)
    assert missing.value.status == 428 and east in missing.value.message
    with pytest.raises(Conflict) as stale:
        ops.transfer(db, req({west: 1, east: 7}), west, to=east, area=area)
    assert stale.value.status == 409
    assert stale.value.detail["current_version"] == 1
    assert stale.value.detail["current"]["geometry"]["type"] == "MultiPolygon"
    assert grid(db, west).version == 1


def test_dry_run_needs_no_version_and_reports_what_the_real_call_does(db, town):
    west, east = SD + "001001", SD + "001002"
    area = geo(metres_box(150, 0, 200, 100))
    savepoint = db.begin_nested()
    preview = ops.transfer(db, req(dry_run=True), west, to=east, area=area)
    savepoint.rollback()
    assert grid(db, west).version == 1 and tuple(member(db, town.west_building.id))[1] == west
    real = ops.transfer(db, req({west: 1, east: 1}), west, to=east, area=area)
    for key in ("grids", "impact", "adjustments"):
        strip = (lambda r: [{k: v for k, v in g.items() if k != "version_after"} for g in r]) \
            if key == "grids" else (lambda r: r)
        assert strip(preview[key]) == strip(real[key])


def test_reshape_strict_refuses_overlap_and_spill_naming_them(db, town):
    west = SD + "001001"
    with pytest.raises(InvalidInput) as refused:
        ops.reshape(db, req({west: 1}), west, geometry=geo(metres_box(-20, 0, 230, 200)))
    problems = {p["problem"]: p for p in refused.value.detail["problems"]}
    assert problems["outside_parent"]["area_m2"] == pytest.approx(4000, rel=0.01)
    assert problems["overlap"]["with"] == SD + "001002"
    assert problems["overlap"]["area_m2"] == pytest.approx(6000, rel=0.01)
    assert grid(db, west).version == 1


def test_reshape_fit_clips_and_fills_slivers_leaving_no_gap_or_overlap(db, town):
    from gisgrid.coverage.service import Scope, analyse

    west = SD + "001001"
    # drawn by hand: 30 m into the neighbour, 20 m outside the sub-district, and 0.4 m short of
    # the northern border, which would leave a sliver gap
    drawn = metres_box(-20, 0, 230, 199.6)
    report = ops.reshape(db, req({west: 1}, mode="fit"), west, geometry=geo(drawn))
    whats = {a["what"] for a in report["adjustments"]}
    assert {"clipped_to_parent", "clipped_to_sibling"} <= whats
    assert grid(db, west).area == pytest.approx(40_000, rel=0.004)
    counts = analyse(db, Scope(subdistrict=SD, level=2)).counts()
    assert counts["blind_spot"] == counts["overlap"] == counts["sliver_gap"] == counts["sliver_overlap"] == 0


def test_reshape_that_shrinks_reports_the_blind_spot_it_makes(db, town):
    west = SD + "001001"
    report = ops.reshape(db, req({west: 1}, mode="fit"), west, geometry=geo(metres_box(0, 0, 200, 150)))
    created = [d for d in report["impact"]["defects"]["created"] if d["level"] == 2]
    assert [d["type"] for d in created] == ["blind_spot"]
    assert created[0]["area_m2"] == pytest.approx(10_000, rel=0.004)
    assert report["warnings"]
    moved = report["impact"]["moves"]["buildings"]
    assert [b["id"] for b in moved] == [town.north_building.id]
    assert moved[0]["levels"]["2"] == {"from": west, "to": None}


def test_create_takes_the_next_serial_strict_refuses_overlap_fit_clips_it(db, town):
    parent, child = SD + "001002", SD + "001002001"
    ops.reshape(db, req({child: 1}), child, geometry=geo(metres_box(200, 0, 300, 200)))
    drawn = geo(metres_box(290, 0, 400, 200))
    with pytest.raises(InvalidInput) as refused:
        ops.create(db, req(), parent=parent, name="新网格", geometry=drawn)
    assert refused.value.detail["problems"][0]["with"] == child
    report = ops.create(db, req(mode="fit"), parent=parent, name="新网格", geometry=drawn)
    created = report["grids"][0]
    assert created["code"] == parent + "002" and created["actions"] == ["created"]
    assert grid(db, parent + "002").area == pytest.approx(20_000, rel=0.004)
    assert grid(db, parent + "002").version == 1
    assert tuple(member(db, town.east_building.id))[2] == child
    removed = report["impact"]["defects"]["removed"]
    assert [d["type"] for d in removed] == ["blind_spot"] and removed[0]["area_m2"] == pytest.approx(20_000, rel=0.004)


def test_split_by_line_keeps_the_code_on_the_larger_part(db, town):
    west = SD + "001001"
    line = {"type": "LineString", "coordinates": [list(lonlat(shapely.Point(x, y)).coords[0])
                                                  for x, y in ((-5, 130), (205, 130))]}
    report = ops.split(db, req({west: 1}), west, line=line, names=["北片"])
    codes = {g["code"]: g for g in report["grids"] if g["level"] == 2}
    assert set(codes) == {west, SD + "001003"}
    assert grid(db, west).area == pytest.approx(26_000, rel=0.004)
    new = grid(db, SD + "001003")
    assert new.area == pytest.approx(14_000, rel=0.004) and new.name == "北片"
    # children go where most of their area is: the southern L3 stays, the northern one moves
    assert grid(db, SD + "001001001").parent_code == west
    moved = [g for g in report["grids"] if g["previous_code"] == SD + "001001002"]
    assert moved and moved[0]["code"] == SD + "001003001"
    assert tuple(member(db, town.north_building.id)) == (SD + "001", SD + "001003", SD + "001003001")
    # the cut child's southern strip stays under the west grid as a new child, numbered after
    # every serial the west grid ever gave out (002 moved away with the re-coded child)
    strip = grid(db, west + "003")
    assert strip.area == pytest.approx(6_000, rel=0.004) and strip.name.endswith("（拆分）")
    assert grid(db, SD + "001003001").area == pytest.approx(14_000, rel=0.004)
    from gisgrid.coverage.service import Scope, analyse

    counts = analyse(db, Scope(subdistrict=SD)).counts()
    assert counts["spill_over"] == counts["blind_spot"] == counts["overlap"] == 0


def test_split_by_line_that_does_not_cross_is_refused(db, town):
    west = SD + "001001"
    line = {"type": "LineString", "coordinates": [list(lonlat(shapely.Point(x, y)).coords[0])
                                                  for x, y in ((10, 130), (190, 130))]}
    with pytest.raises(InvalidInput, match="cross the grid's boundary"):
        ops.split(db, req({west: 1}), west, line=line)


def test_split_by_parts_strict_needs_full_cover_fit_assigns_leftover(db, town):
    east = SD + "001002"
    parts = [{"geometry": geo(metres_box(200, 0, 300, 200)), "name": "甲"},
             {"geometry": geo(metres_box(300.5, 0, 400, 200)), "name": "乙"}]
    with pytest.raises(InvalidInput) as refused:
        ops.split(db, req({east: 1}), east, parts=parts)
    assert refused.value.detail["problems"][0]["problem"] == "uncovered"
    report = ops.split(db, req({east: 1}, mode="fit"), east, parts=parts)
    areas = sorted(round(grid(db, g["code"]).area, -1) for g in report["grids"] if g["level"] == 2)
    assert sum(areas) == pytest.approx(40_000, rel=0.004) and min(areas) > 19_800  # the strip joined a part
    leftover = [a for a in report["adjustments"] if a["what"] == "assigned_leftover"]
    assert leftover[0]["area_m2"] == pytest.approx(100, rel=0.01)


def test_merge_retires_the_others_and_recodes_their_children(db, town):
    west, east = SD + "001001", SD + "001002"
    report = ops.merge(db, req({west: 1, east: 1}), [west, east], name="合并网格")
    assert grid(db, west).area == pytest.approx(80_000, rel=0.004) and grid(db, west).name == "合并网格"
    assert grid(db, east).retired_at is not None and grid(db, east).version == 2
    assert grid(db, SD + "001001003").area == pytest.approx(40_000, rel=0.004)  # was 001002001
    assert tuple(member(db, town.east_building.id)) == (SD + "001", west, SD + "001001003")
    assert {r["grid"] for r in report["released_team"]} == {east}
    assert not db.execute(text("SELECT 1 FROM grids WHERE code = :c"), {"c": SD + "001002001"}).first()


def test_merge_refuses_grids_that_do_not_touch(db, town):
    a, b = SD + "001001001", SD + "001002001"
    with pytest.raises(InvalidInput):
        ops.merge(db, req({a: 1, b: 1}), [a, b])


def test_retire_hands_area_to_the_neighbour_and_refuses_to_leave_a_gap(db, town):
    west, east = SD + "001001", SD + "001002"
    ops.retire(db, req({east: 1}), east)
    assert grid(db, west).area == pytest.approx(80_000, rel=0.004)
    assert grid(db, east).retired_at is not None
    only = SD + "001"
    with pytest.raises(InvalidInput, match="part of grid"):  # no neighbour to take it
        ops.retire(db, req({only: 1}), only)


def test_restore_makes_an_old_version_current_as_a_new_version(db, town):
    west, east = SD + "001001", SD + "001002"
    ops.transfer(db, req({west: 1, east: 1}), west, to=east, area=geo(metres_box(150, 0, 200, 100)))
    with pytest.raises(InvalidInput, match="child grid"):  # its child took part of what it received
        ops.restore(db, req({east: 2}), east, version=1)
    ops.restore(db, req({east: 2}, mode="fit"), east, version=1)
    assert grid(db, east).version == 3 and grid(db, east).area == pytest.approx(40_000, rel=0.004)
    versions = db.execute(text("SELECT v.version, v.operation, v.reason, v.changed_by FROM grid_versions v "
                               "JOIN grids g ON g.id = v.grid_id WHERE g.code = :c ORDER BY v.version"),
                          {"c": east}).all()
    assert [v.operation for v in versions] == ["create", "transfer", "restore"]
    assert versions[-1].changed_by == "技术员"


def test_gcj02_input_lands_within_a_metre_of_the_wgs84_truth(db):
    from pyproj import Geod

    from gisgrid.core import crs

    # Tiananmen flag pole: WGS84 and its published GCJ-02 form (the control point of test_crs)
    wgs, gcj = (116.391285, 39.907380), (116.397528, 39.908779)
    t = Territory(db, "110101902", metres_box(0, 0, 2000, 2000))
    t.grid("001", metres_box(0, 0, 2000, 2000))
    others = [crs.wgs84_to_gcj02(wgs[0] + dx, wgs[1] + dy) for dx, dy in ((0.002, 0), (0.002, 0.002))]
    ring = [list(gcj), *[[float(x), float(y)] for x, y in others], list(gcj)]
    report = ops.create(db, req(), parent="110101902001", name="天安门网格",
                        geometry={"type": "Polygon", "coordinates": [ring]}, crs="GCJ-02")
    stored = shapely.geometry.shape(report["grids"][0]["geometry"])
    geod = Geod(ellps="WGS84")
    nearest = min(geod.inv(x, y, *wgs)[2] for x, y in stored.exterior.coords) if stored.geom_type == "Polygon" \
        else min(geod.inv(x, y, *wgs)[2] for p in stored.geoms for x, y in p.exterior.coords)
    assert nearest < 1.0
    assert shapely.is_ccw(shapely.get_exterior_ring(shapely.get_parts(stored)[0]))


def test_clockwise_rings_are_stored_counter_clockwise(db, town):
    parent, child = SD + "001002", SD + "001002001"
    ops.reshape(db, req({child: 1}), child, geometry=geo(metres_box(200, 0, 300, 200)))
    clockwise = shapely.geometry.polygon.orient(lonlat(metres_box(300, 0, 400, 200)), sign=-1.0)
    ops.create(db, req(), parent=parent, name="顺时针", geometry=mapping(clockwise))
    ccw = db.execute(text("SELECT ST_IsPolygonCCW(geom) FROM grids WHERE code = :c"),
                     {"c": parent + "002"}).scalar_one()
    assert ccw


def test_a_failure_halfway_through_a_split_leaves_the_database_as_it_was(scratch_engine, monkeypatch):
    from sqlalchemy.orm import Session

    from gisgrid.grids import membership

    from builders import Town

    town = Town(scratch_engine)

    def state():
        with scratch_engine.connect() as conn:
            return (conn.execute(text("SELECT code, version, ST_AsText(geom) FROM grids WHERE subdistrict_code = :sd "
                                      "ORDER BY code"), {"sd": town.sd}).all(),
                    conn.execute(text("SELECT count(*) FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
                                      "WHERE g.subdistrict_code = :sd"), {"sd": town.sd}).scalar_one(),
                    conn.execute(text("SELECT grid_l2_id FROM buildings WHERE id = :id"),
                                 {"id": town.west_building}).scalar_one())

    before = state()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (forced)")

    # the grids are already written (one reshaped, one inserted) when membership fails
    monkeypatch.setattr(membership, "moves", broken)
    session = Session(scratch_engine)
    line = {"type": "LineString", "coordinates": [list(lonlat(shapely.Point(town.dx + x, y)).coords[0])
                                                  for x, y in ((100, -5), (100, 205))]}
    with pytest.raises(RuntimeError, match="forced"):
        ops.split(session, req({town.west: 1}), town.west, line=line)
    session.rollback()
    session.close()
    assert state() == before


def test_an_open_case_in_the_moved_area_is_reported_and_keeps_its_reported_grid(db, town):
    west, east = SD + "001001", SD + "001002"
    west_id = db.execute(text("SELECT id FROM grids WHERE code = :c"), {"c": west}).scalar_one()
    db.execute(text("""
        INSERT INTO cases (case_no, subdistrict_code, category_code, title, description, reporter_name, reporter_kind, status,
                           geom, grid_l2_id)
        VALUES ('T-1', :sd, (SELECT code FROM case_categories WHERE parent_code IS NULL ORDER BY sort_order LIMIT 1),
                '路灯不亮', '', '张三', 'grid_worker', 'dispatched', ST_GeomFromText(:pt, 4326), :grid)
    """), {"sd": SD, "pt": lonlat(shapely.Point(180, 60)).wkt, "grid": west_id})
    report = ops.transfer(db, req({west: 1, east: 1}), west, to=east, area=geo(metres_box(150, 0, 200, 100)))
    (case,) = report["impact"]["open_cases"]
    assert case["case_no"] == "T-1" and case["reported_in"] == west
    assert west in case["grids_before"] and east in case["grids_after"]
    assert db.execute(text("SELECT grid_l2_id FROM cases WHERE case_no = 'T-1'")).scalar_one() == west_id


def test_import_a_geopackage_strict_refuses_overlapping_features(db, town, tmp_path):
    import geopandas

    from gisgrid.grids.layer_import import import_layer

    frame = geopandas.GeoDataFrame(
        {"网格编码": [SD + "001001", SD + "001002"], "网格名称": ["西", "东"]},
        geometry=[lonlat(metres_box(0, 0, 220, 200)), lonlat(metres_box(200, 0, 400, 200))], crs="EPSG:4326")
    path = tmp_path / "grids.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(InvalidInput) as refused:
        import_layer(db, req(dry_run=True), path)
    assert "overlaps" in refused.value.message and refused.value.where == "features[1].geometry"
    report = import_layer(db, req(dry_run=True, mode="fit"), path)
    assert report["summary"]["reshaped"] == 2 and report["summary"]["renamed"] == 2
    assert report["etag"].startswith('"layer-')


def test_a_transfer_drawn_on_the_demo_leaves_no_dust(db, demo):
    """A polygon drawn with vertices on the old border (rounded to 7 decimals, so a hair off it)
    must not leave hair-thin gaps or spill: the coverage afterwards is the coverage before,
    less the planted overlap the transfer resolves."""
    from test_grid_commands import NEIGHBOURS

    from gisgrid.coverage.service import Scope, analyse

    pair = db.execute(text(NEIGHBOURS)).one()
    scope = Scope(subdistrict=pair.a[:9])
    before = analyse(db, scope).counts()
    report = ops.transfer(db, req({pair.a: pair.va, pair.b: pair.vb}), pair.a, to=pair.b, area=json.loads(pair.area))
    after = analyse(db, scope).counts()
    resolved = [d for d in report["impact"]["defects"]["removed"] if d["type"] == "overlap"]
    assert after["overlap"] == before["overlap"] - len(resolved)
    for kind in ("blind_spot", "spill_over", "sliver_gap", "sliver_overlap", "sliver_spill"):
        assert after[kind] == before[kind], kind
    assert report["impact"]["defects"]["created"] == []


def test_a_recoded_grid_takes_its_retired_children_along(db, town):
    east, child = SD + "001002", SD + "001002001"

    def line(x):
        return {"type": "LineString", "coordinates": [list(lonlat(shapely.Point(x, y)).coords[0]) for y in (-5, 205)]}

    ops.split(db, req({child: 1}), child, line=line(300))
    ops.merge(db, req({child: 2, SD + "001002002": 1}), [child, SD + "001002002"])  # 002 is retired
    report = ops.split(db, req({SD + "001": 1}), SD + "001", line=line(200.5))  # east moves to a new L1
    moved = {g["previous_code"]: g["code"] for g in report["grids"] if g["previous_code"]}
    assert {east, child, SD + "001002002"} <= set(moved)
    db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # every parent key holds
    retired = db.execute(text("SELECT parent_code, retired_at IS NOT NULL FROM grids WHERE code = :c"),
                         {"c": moved[SD + "001002002"]}).one()
    assert retired == (moved[east], True)


def test_l1_zones_of_different_sub_districts_are_not_siblings(db, town):
    other = Territory(db, "110101903", metres_box(400, 0, 800, 200))
    other.grid("001", metres_box(400, 0, 800, 200))
    here, there = SD + "001", "110101903001"
    with pytest.raises(InvalidInput, match="not siblings"):
        ops.transfer(db, req({here: 1, there: 1}), here, to=there, area=geo(metres_box(350, 0, 400, 200)))
    with pytest.raises(InvalidInput, match="one parent"):
        ops.merge(db, req({here: 1, there: 1}), [here, there])


def test_a_line_splits_only_the_part_it_crosses(db, town):
    east = SD + "001002"
    line = {"type": "LineString", "coordinates": [list(lonlat(shapely.Point(x, y)).coords[0])
                                                  for x, y in ((300, -50), (300, -10))]}
    with pytest.raises(InvalidInput, match="does not cut"):
        ops.split(db, req({east: 1}), east, line=line)


def test_reshape_strict_refuses_a_shape_its_children_spill_out_of_fit_clips_them(db, town):
    west = SD + "001001"
    smaller = geo(metres_box(0, 0, 150, 200))
    with pytest.raises(InvalidInput) as refused:
        ops.reshape(db, req({west: 1}), west, geometry=smaller)
    assert {p["grid"] for p in refused.value.detail["problems"]} == {SD + "001001001", SD + "001001002"}
    report = ops.reshape(db, req({west: 1}, mode="fit"), west, geometry=smaller)
    assert {a["grid"] for a in report["adjustments"] if a["what"] == "child_clipped"} == \
        {SD + "001001001", SD + "001001002"}
    assert grid(db, SD + "001001001").area == pytest.approx(15_000, rel=0.004)


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Polygon", "coordinates": [[[116.38, 39.9], [116.38000001, 39.9], [116.38, 39.90000001],
                                          [116.38, 39.9]]]}, "too small"),
    ({"type": "Polygon", "coordinates": [[[116.38, 39.9], [10 ** 400, 39.9], [116.381, 39.901], [116.38, 39.9]]]},
     "far out of range"),
])
def test_degenerate_and_absurd_shapes_are_422(db, town, geometry, message):
    with pytest.raises(InvalidInput, match=message):
        ops.reshape(db, req({SD + "001001": 1}), SD + "001001", geometry=geometry)


def test_a_z_value_on_some_positions_is_dropped(db, town):
    child = SD + "001002001"
    ring = [list(lonlat(shapely.Point(x, y)).coords[0]) for x, y in ((200, 0), (400, 0), (400, 200), (200, 200))]
    ring[1].append(12.5)
    report = ops.reshape(db, req({child: 1}), child, geometry={"type": "Polygon", "coordinates": [ring + [ring[0]]]})
    assert report["grids"][0]["code"] == child


def test_reason_and_versions_are_checked(db, town):
    from gisgrid.grids.editing import parse_if_match

    with pytest.raises(InvalidInput, match="NUL"):
        req(reason="bad\x00reason")
    with pytest.raises(InvalidInput, match="If-Match"):
        parse_if_match('"v²"')
    assert parse_if_match('W/"v12"') == 12
