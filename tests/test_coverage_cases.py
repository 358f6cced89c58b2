"""Coverage analysis on hand-built territories whose answers are known in square metres."""

from __future__ import annotations

import pytest
import shapely.geometry
from shapely import Polygon

from gisgrid.coverage.service import Defect, Scope, analyse, defect_features
from gisgrid.grids import membership

from builders import Territory, metres_box
from geojson_checks import assert_rfc7946

SD = "110101097"


def by_type(report, kind):
    return [d for d in report.defects if d.type == kind]


@pytest.fixture
def territory(db):
    """1 km² sub-district; L1 west/east halves; the east half has a 20 m × 50 m notch (gap)."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 500, 1000))
    east = Polygon([(500, 0), (1000, 0), (1000, 400), (980, 400), (980, 450), (1000, 450),
                    (1000, 1000), (500, 1000)])
    t.grid("002", east)
    # West: two L2 children overlapping by 500 m × 20 m.
    t.grid("001001", metres_box(0, 0, 500, 500))
    t.grid("001002", metres_box(0, 480, 500, 1000))
    # East: one child spilling 10 m past the sub-district's east edge, leaving a 0.5 m² sliver.
    t.grid("002001", Polygon([(500, 0), (1010, 0), (1010, 1000), (500, 1000), (500, 600.5),
                              (501, 600.5), (501, 600), (500, 600)]))
    return t


def test_blind_spot_of_known_area(db, territory):
    report = analyse(db, Scope(subdistrict=SD))
    gaps = by_type(report, "blind_spot")
    assert [(g.level, g.grids) for g in gaps] == [(1, [SD + "002"])]
    assert gaps[0].area_m2 == pytest.approx(1000, rel=0.005)


def test_overlap_of_known_area(db, territory):
    overlaps = by_type(analyse(db, Scope(subdistrict=SD)), "overlap")
    assert [(o.level, o.grids) for o in overlaps] == [(2, [SD + "001001", SD + "001002"])]
    assert overlaps[0].area_m2 == pytest.approx(10_000, rel=0.005)


def test_spill_over_of_known_area(db, territory):
    spills = by_type(analyse(db, Scope(subdistrict=SD)), "spill_over")
    # 10 m past the parent along 1 km, plus the notch the child covers but its parent lacks.
    assert [(s.level, s.grids, s.detail["parent"]) for s in spills] == [
        (2, [SD + "002001"], SD + "002")
    ]
    assert spills[0].area_m2 == pytest.approx(10_000 + 1000, rel=0.005)


def test_sliver_under_tolerance_is_reported_apart(db, territory):
    report = analyse(db, Scope(subdistrict=SD))
    slivers = by_type(report, "sliver_gap")
    assert [(s.level, s.grids) for s in slivers] == [(2, [SD + "002001"])]
    assert slivers[0].area_m2 == pytest.approx(0.5, rel=0.05)
    assert report.counts()["blind_spot"] == 1  # the sliver is not a blind spot
    bigger = analyse(db, Scope(subdistrict=SD), tolerance_m2=0.1)
    assert len(by_type(bigger, "blind_spot")) == 2 and not by_type(bigger, "sliver_gap")


def test_orphans_load_and_missing_lead(db, territory):
    t = territory
    orphan = t.building(990, 425, households=3)            # in the notch: no L1, and the spilling
    #                                                        L2 covers it but none of its L3s do
    t.building(250, 250, households=210, people_each=5)    # 001001: within band
    t.building(250, 800, households=301)                    # 001002: over
    t.grid("002001001", metres_box(500, 0, 700, 300), lead=False)
    membership.refresh(db, subdistrict=SD)
    report = analyse(db, Scope(subdistrict=SD))
    orphans = by_type(report, "orphan_building")
    assert [(o.detail["id"], o.detail["missing_levels"]) for o in orphans] == [(orphan.id, [1, 3])]
    loads = {row["code"]: row for row in report.loads}
    assert loads[SD + "001001"]["status"] == "within" and loads[SD + "001001"]["people"] == 1050
    assert loads[SD + "001002"]["status"] == "over"
    assert loads[SD + "001"]["households"] == 210 + 301
    assert [d.grids for d in by_type(report, "overloaded")] == [[SD + "001002"]]
    assert [d.grids for d in by_type(report, "no_lead")] == [[SD + "002001001"]]
    assert report.summary["households"] == 514
    assert report.summary["by_level"][1]["households_covered_pct"] == pytest.approx(100 * 511 / 514, abs=0.01)
    assert report.summary["by_level"][1]["area_covered_pct"] == pytest.approx(99.9, abs=0.01)


@pytest.mark.parametrize(("households", "status"), [(199, "under"), (200, "within"), (300, "within"), (301, "over")])
def test_band_edges_belong_to_the_band(db, territory, households, status):
    territory.building(250, 250, households=households)
    membership.refresh(db, subdistrict=SD)
    loads = {row["code"]: row for row in analyse(db, Scope(subdistrict=SD, level=2)).loads}
    assert loads[SD + "001001"]["status"] == status


def test_scope_to_one_community_and_level(db, territory):
    west = analyse(db, Scope(subdistrict=SD, community=SD + "001"))
    areas = ("blind_spot", "overlap", "spill_over", "sliver_gap", "sliver_overlap", "sliver_spill")
    assert {d.type for d in west.defects if d.type in areas} == {"overlap"}
    assert {code for d in west.defects for code in d.grids} <= {SD + "001", SD + "001001", SD + "001002"}
    level1 = analyse(db, Scope(subdistrict=SD, level=1))
    assert {d.type for d in level1.defects if d.type in areas} == {"blind_spot"}
    assert all(d.level == 1 for d in level1.defects)


def uneven_depths(db) -> Territory:
    """Three communities 500 m × 500 m, subdivided to different depths: 001 into an L2 with micro-grids
    and an L2 without; 002 not at all; 003 into one L2 with a micro-grid, leaving its north
    100 m in no L2."""
    t = Territory(db, SD, metres_box(0, 0, 1500, 500))
    t.grid("001", metres_box(0, 0, 500, 500))
    t.grid("001001", metres_box(0, 0, 500, 250))
    t.grid("001001001", metres_box(0, 0, 500, 250))
    t.grid("001002", metres_box(0, 250, 500, 500))
    t.grid("002", metres_box(500, 0, 1000, 500))
    t.grid("003", metres_box(1000, 0, 1500, 500))
    t.grid("003001", metres_box(1000, 0, 1500, 400))
    t.grid("003001001", metres_box(1000, 0, 1500, 400))
    return t


def test_a_level_that_is_not_subdivided_has_no_orphans_below_it(db):
    t = uneven_depths(db)
    t.building(250, 100, households=10)           # 001 / 001001 / 001001001
    t.building(250, 400, households=10)           # 001 / 001002, which has no micro-grids
    t.building(750, 250, households=10)           # 002, which has no grids below it
    in_l2_gap = t.building(1250, 450, households=10)  # 003, outside its only L2
    membership.refresh(db, subdistrict=SD)
    report = analyse(db, Scope(subdistrict=SD))
    orphans = by_type(report, "orphan_building")
    assert [(o.detail["id"], o.detail["missing_levels"]) for o in orphans] == [(in_l2_gap.id, [2, 3])]
    level3 = analyse(db, Scope(subdistrict=SD, level=3))
    assert [o.detail["id"] for o in by_type(level3, "orphan_building")] == [in_l2_gap.id]


def test_households_are_covered_by_the_finest_grid_that_exists_where_they_live(db):
    t = uneven_depths(db)
    t.building(250, 100, households=10)   # in a micro-grid
    t.building(250, 400, households=20)   # in an L2 with no micro-grids
    t.building(750, 250, households=30)   # in a community with no grids below it
    t.building(1250, 450, households=40)  # missing an L2 (and so a micro-grid) in 003
    membership.refresh(db, subdistrict=SD)
    summary = analyse(db, Scope(subdistrict=SD)).summary
    assert summary["households"] == 100
    assert summary["households_covered_pct"] == pytest.approx(60.0)
    assert [summary["by_level"][level]["households_covered_pct"] for level in (1, 2, 3)] == \
        pytest.approx([100.0, 60.0, 60.0])
    community = analyse(db, Scope(subdistrict=SD, community=SD + "002")).summary
    assert community["households"] == 30 and community["households_covered_pct"] == pytest.approx(100.0)


def test_a_tiny_sliver_is_written_as_a_valid_polygon(db):
    """A 0.19 m² spill of a community past a sub-district outline that came off the storage grid
    (converted from GCJ-02): a 1 cm × 96 m needle the database computes on the 1e-7° grid."""
    boundary = Polygon([(0, 0), (1000, 0), (1000.0088, 151), (1000, 300), (1000, 1000), (0, 1000)])
    t = Territory(db, SD, boundary, boundary_on_grid=False)
    t.grid("001", Polygon([(0, 0), (1000, 0), (1000.005, 51), (1000, 183), (1000, 1000), (0, 1000)]))
    report = analyse(db, Scope(subdistrict=SD))
    needle = [d for d in report.defects if d.type == "sliver_spill"]
    assert [d.area_m2 for d in needle] == [pytest.approx(0.19, abs=0.01)]

    collection = defect_features(report)
    for feature in collection["features"]:
        geometry, kind = feature["geometry"], feature["properties"]["defect"]
        polygons = {"Polygon": [geometry["coordinates"]],
                    "MultiPolygon": geometry["coordinates"]}.get(geometry["type"], [])
        assert geometry["type"] == "Point" or polygons, kind
        for rings in polygons:
            assert rings, kind
            for ring in rings:
                assert len(ring) >= 4 and ring[0] == ring[-1], kind
    assert_rfc7946(collection)
    written = [f for f in collection["features"] if f["properties"]["defect"] == "sliver_spill"]
    assert [f["properties"]["area_m2"] for f in written] == [needle[0].area_m2]
    assert shapely.geometry.shape(written[0]["geometry"]).area > 0


def test_a_defect_with_no_area_left_is_listed_without_a_geometry(db):
    """Whatever reaches the writer, an empty ring is never written: no geometry, same entry."""
    report = analyse(db, Scope(subdistrict=None, community=None))
    report.defects = [Defect("sliver_gap", 2, [SD + "001001"], Polygon(), 0.01),
                      Defect("sliver_gap", 2, [SD + "001002"],
                             Polygon([(116.38, 39.9), (116.381, 39.9), (116.382, 39.9)]), 0.0)]
    features = defect_features(report)["features"]
    assert [(f["geometry"], f["properties"]["grids"], f["properties"]["area_m2"]) for f in features] == [
        (None, [SD + "001001"], 0.01), (None, [SD + "001002"], 0.0)]
