"""A building over the ceiling in the division: a grid of its own (一楼一格) or split by 单元 (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely import Point
from shapely.affinity import rotate, translate
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.database import set_change_context
from gisgrid.core.enums import BuildingUse, Occupancy
from gisgrid.core.errors import Conflict, InvalidInput
from gisgrid.core.scope import WHOLE
from gisgrid.division import entrances, service
from gisgrid.division.partition import Band
from gisgrid.grids import membership
from gisgrid.ledger import records
from gisgrid.ledger.kinds import KINDS
from gisgrid.registry.models import Building, Household

from builders import Territory, Town, lonlat, metres_box

GISGRID = str(Path(sys.executable).parent / "gisgrid")
SD = "110101918"
DAY = date(2025, 3, 1)
BAND = Band(200, 300)
FOOTPRINT = metres_box(240, 90, 360, 110)  # 120 m long, entrance 1 at the west end


def tower(db, subdistrict: str, loads: list[int], *, dx: float = 0, footprint: bool = True) -> int:
    """“12号楼” at (300, 100): one entrance per load, each with that many households."""
    set_change_context(db, actor="test", reason="hand-built tower", operation="create")
    building = Building(subdistrict_code=subdistrict, name="12号楼", address=f"{subdistrict}幸福路12号",
                        floors=max(1, -(-max(loads) // 4)), entrances=len(loads), flats_per_floor=4,
                        use=BuildingUse.RESIDENTIAL, geom=from_shape(lonlat(Point(300 + dx, 100)), srid=4326),
                        footprint=from_shape(lonlat(translate(FOOTPRINT, dx)), srid=4326) if footprint else None)
    db.add(building)
    db.flush()
    db.add_all([Household(building_id=building.id, entrance=entrance, floor=1 + i // 4, room=f"{1 + i // 4}{i % 4 + 1:02d}",
                          occupancy=Occupancy.OWNER, member_count=1)
                for entrance, count in enumerate(loads, start=1) for i in range(count)])
    db.flush()
    membership.refresh(db, subdistrict=subdistrict)
    db.flush()
    return building.id


def territory(db, loads: list[int], **options) -> int:
    """A sub-district 600 m by 200 m, one L1 zone with one L2 grid, and the tower."""
    t = Territory(db, SD, metres_box(0, 0, 600, 200))
    t.grid("001", metres_box(0, 0, 600, 200))
    t.grid("001001", metres_box(0, 0, 600, 200))
    return tower(db, SD, loads, **options)


def counts(db) -> tuple:
    """What a write would change: buildings, versions, audit rows, households of the sub-district's buildings."""
    return db.execute(text("""
        SELECT (SELECT count(*) FROM all_buildings WHERE subdistrict_code = :sd),
               (SELECT count(*) FROM ledger_versions), (SELECT count(*) FROM audit_log),
               (SELECT count(*) FROM buildings b JOIN households h ON h.building_id = b.id
                WHERE b.subdistrict_code = :sd AND b.name = '12号楼')"""), {"sd": SD}).one()


def test_entrances_group_into_consecutive_runs_in_band_fewest_and_most_even():
    assert entrances.group_entrances([80] * 6, BAND) == [(1, 3), (4, 6)]
    assert entrances.group_entrances([80, 350, 80, 80, 80], BAND) == [(1, 1), (2, 2), (3, 5)]
    assert entrances.group_entrances([50] * 7, BAND) == [(1, 4), (5, 7)]  # 200 + 150: the closer to the middle
    assert entrances.group_entrances([350, 0], BAND) == [(1, 2)]  # an empty entrance is no part of its own
    assert entrances.group_entrances([100, 100, 100, 100, 100, 100, 100, 100, 100], BAND) == [(1, 3), (4, 6), (7, 9)]


def test_strips_cut_the_footprint_across_its_long_axis_in_proportion_to_their_entrances():
    footprint = rotate(metres_box(0, 0, 120, 20), 30, origin=(0, 0))
    pieces = entrances.strips(footprint, 6, [(1, 2), (3, 6)])
    assert [round(p.area / footprint.area, 6) for p in pieces] == [pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert shapely.union_all(pieces).symmetric_difference(footprint).area < 1e-6
    assert pieces[0].centroid.x < pieces[1].centroid.x  # entrance 1 at the west end
    assert pieces[0].intersection(pieces[1]).area < 1e-9


def test_own_grid_keeps_the_tower_whole_as_one_grid_of_480_and_reports_it(db):
    building = territory(db, [80] * 6)
    proposal = service.divide(db, service.DivideRequest(SD), WHOLE)
    assert [(f["properties"]["households"], f["properties"]["building_ids"], f["properties"]["parts"])
            for f in proposal["features"]] == [(480, [building], [])]
    assert [(p["kind"], p["buildings"], p["households"]) for p in proposal["problems"]] == [
        ("building_over_ceiling", [building], 480)]
    assert proposal["summary"]["in_band"] == 0


def test_by_entrance_proposes_two_parts_of_240_in_band_and_says_which_entrances_go_where(db):
    building = territory(db, [80] * 6)
    proposal = service.divide(db, service.DivideRequest(SD, oversize="by-entrance"), WHOLE)
    features = sorted(proposal["features"], key=lambda f: f["properties"]["parts"][0]["entrances"][0])
    assert [f["properties"]["households"] for f in features] == [240, 240]
    assert all(f["properties"]["in_band"] and f["properties"]["building_ids"] == [] for f in features)
    assert [[(p["name"], p["entrances"]) for p in f["properties"]["parts"]] for f in features] == [
        [("12号楼 1–3单元", [1, 2, 3])], [("12号楼 4–6单元", [4, 5, 6])]]
    [problem] = proposal["problems"]
    assert (problem["kind"], problem["buildings"], problem["resolution"], problem["households"]) == (
        "building_over_ceiling", [building], "by_entrance", 480)
    labels = {f["properties"]["code"] or f["properties"]["name"] for f in features}
    assert [(p["entrances"], p["households"], p["in_band"]) for p in problem["parts"]] == [
        ([1, 2, 3], 240, True), ([4, 5, 6], 240, True)]
    assert {p["grid"] for p in problem["parts"]} == labels and len(labels) == 2
    west, east = (shapely.geometry.shape(f["properties"]["parts"][0]["footprint"]) for f in features)
    expected = lonlat(FOOTPRINT)
    assert west.union(east).symmetric_difference(expected).area < expected.area * 1e-6
    assert west.area == pytest.approx(east.area, rel=1e-6)


def test_an_entrance_alone_over_the_ceiling_is_reported_as_such(db):
    building = territory(db, [80, 350, 80, 80, 80])
    proposal = service.divide(db, service.DivideRequest(SD, oversize="by-entrance"), WHOLE)
    kinds = [(p["kind"], p["buildings"], p["households"], p.get("entrances")) for p in proposal["problems"]]
    assert ("entrance_over_ceiling", [building], 350, [2]) in kinds
    split = next(p for p in proposal["problems"] if p.get("resolution") == "by_entrance")
    assert [(p["entrances"], p["households"], p["in_band"]) for p in split["parts"]] == [
        ([1], 80, False), ([2], 350, False), ([3, 4, 5], 240, True)]
    alone = [f for f in proposal["features"] if [p["entrances"] for p in f["properties"]["parts"]] == [[2]]]
    assert len(alone) == 1 and alone[0]["properties"]["households"] == 350
    assert not any(p["kind"] == "building_over_ceiling" and "resolution" not in p for p in proposal["problems"])


def test_a_building_without_a_footprint_or_with_one_entrance_stays_whole_and_says_why(db):
    building = territory(db, [80] * 6, footprint=False)
    proposal = service.divide(db, service.DivideRequest(SD, oversize="by-entrance"), WHOLE)
    assert [(p["kind"], p["resolution"], p["why"]) for p in proposal["problems"]] == [
        ("building_over_ceiling", "own_grid", "no_footprint")]
    assert [f["properties"]["building_ids"] for f in proposal["features"]] == [[building]]


def test_a_single_entrance_over_the_ceiling_keeps_the_building_whole_and_reports_the_entrance(db):
    building = territory(db, [350])
    proposal = service.divide(db, service.DivideRequest(SD, oversize="by-entrance"), WHOLE)
    assert [(p["kind"], p.get("why"), p.get("entrances")) for p in proposal["problems"]] == [
        ("building_over_ceiling", "entrance_over_ceiling", None), ("entrance_over_ceiling", None, [1])]
    assert [f["properties"]["building_ids"] for f in proposal["features"]] == [[building]]


def test_a_dry_run_writes_nothing_and_adopting_splits_moves_ends_and_imports_in_one_change(db):
    building = territory(db, [80] * 6)
    request = service.DivideRequest(SD, oversize="by-entrance")
    before = counts(db)
    preview = service.divide_and_adopt(db, request, WHOLE, actor="tester", reason=None, adopt_with=None,
                                       adopt_now=False, today=DAY)
    assert counts(db) == before and preview["adopted"] is None and preview["split"] is None
    impact = preview["impact"]["impact"]  # made with the parts in place (then rolled back): one part changes grid
    assert [(m["name"], m["households"]) for m in impact["moves"]["buildings"]] in (
        [("12号楼 1–3单元", 240)], [("12号楼 4–6单元", 240)])
    assert impact["households_moved"] == 240
    done = service.divide_and_adopt(db, request, WHOLE, actor="tester", reason="按单元拆分12号楼",
                                    adopt_with=preview["etag"], adopt_now=True, today=DAY)
    assert [(p["name"], p["entrances"], p["households_moved"]) for p in done["split"][0]["parts"]] == [
        ("12号楼 1–3单元", [1, 2, 3], 240), ("12号楼 4–6单元", [4, 5, 6], 240)]
    assert db.execute(text("SELECT ended_on, end_reason FROM all_buildings WHERE id = :b"),
                      {"b": building}).one() == (DAY, "split")
    parts = db.execute(text("""
        SELECT b.id, b.name, b.entrances, l.households, g.code, gl.households AS grid_households,
               ST_Covers(b.footprint, b.geom) AS on_footprint
        FROM buildings b JOIN building_loads l ON l.building_id = b.id JOIN grids g ON g.id = b.grid_l2_id
        JOIN grid_loads gl ON gl.grid_id = g.id WHERE b.subdistrict_code = :sd ORDER BY b.name"""),
                       {"sd": SD}).mappings().all()
    assert [(p["name"], p["entrances"], p["households"], p["grid_households"], p["on_footprint"]) for p in parts] == [
        ("12号楼 1–3单元", 3, 240, 240, True), ("12号楼 4–6单元", 6, 240, 240, True)]
    assert len({p["code"] for p in parts}) == 2
    proposed = {f["properties"]["parts"][0]["name"]: f for f in preview["proposal"]["features"]}
    adopted = db.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE parent_code = :p AND retired_at IS NULL"),
                         {"p": SD + "001"}).all()
    for p in parts:  # each part sits in the grid drawn around it
        drawn = shapely.geometry.shape(proposed[p["name"]]["geometry"])
        holding = [code for code, geom in adopted if shapely.from_wkb(geom).intersection(drawn).area > drawn.area * 0.99]
        assert holding == [p["code"]]
    wrong = db.execute(text("""
        SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE b.subdistrict_code = :sd AND (h.entrance <= 3) <> (b.name = '12号楼 1–3单元')"""), {"sd": SD}).scalar()
    assert wrong == 0
    audit = dict(db.execute(text("""SELECT action, count(*) FROM audit_log WHERE actor = 'tester'
                                    AND detail->>'reason' = '按单元拆分12号楼' GROUP BY action""")).all())
    assert (audit["ledger.move"], audit["ledger.end"], audit["ledger.create"], audit["grid.import"]) == (480, 1, 2, 1)


def test_a_refused_adoption_leaves_nothing_half_written(db):
    building = territory(db, [80] * 6)
    request = service.DivideRequest(SD, oversize="by-entrance")
    before = counts(db)
    with pytest.raises(Conflict):  # the import refuses a stale layer after the split was written: both roll back
        service.divide_and_adopt(db, request, WHOLE, actor="tester", reason="按单元拆分", adopt_with='"layer-stale"',
                                 adopt_now=True, today=DAY)
    assert counts(db) == before
    preview = service.divide_and_adopt(db, request, WHOLE, actor="tester", reason=None, adopt_with=None,
                                       adopt_now=False, today=DAY)
    set_change_context(db, actor="other", reason="加建", operation="update")
    db.execute(text("UPDATE all_buildings SET entrances = 7 WHERE id = :b"), {"b": building})
    db.add(Household(building_id=building, entrance=7, floor=1, room="101", occupancy=Occupancy.OWNER, member_count=1))
    db.flush()
    changed = counts(db)
    with pytest.raises(Conflict, match="7"):  # a household since in an entrance no part holds, found mid-split
        service.adopt_splitting(db, preview["proposal"], editor=records.Editor("tester", WHOLE), reason="按单元拆分",
                                expected_etag=preview["etag"], dry_run=False, today=DAY)
    assert counts(db) == changed
    assert db.execute(text("SELECT count(*) FROM grids WHERE parent_code = :p AND retired_at IS NULL"),
                      {"p": SD + "001"}).scalar() == 1


def test_a_bad_oversize_says_what_is_wrong(db):
    with pytest.raises(InvalidInput, match="oversize"):
        service.divide(db, service.DivideRequest(SD, oversize="by-floor"), WHOLE)


@pytest.fixture
def towered(scratch_engine):
    """A committed town whose east grid holds the 480-household tower."""
    town = Town(scratch_engine)
    with Session(scratch_engine) as db:
        town.tower = tower(db, town.sd, [80] * 6, dx=town.dx)
        db.commit()
    return town


def _state(scratch_engine, town) -> tuple:
    with scratch_engine.connect() as conn:
        return conn.execute(text("""
            SELECT (SELECT end_reason FROM all_buildings WHERE id = :b),
                   (SELECT string_agg(b.name || ':' || l.households, ',' ORDER BY b.name) FROM buildings b
                    JOIN building_loads l ON l.building_id = b.id WHERE b.subdistrict_code = :sd AND b.name LIKE '12号楼 %')
            """), {"b": town.tower, "sd": town.sd}).one()


def test_post_divide_takes_oversize_dry_runs_it_and_adopts_it(scratch_http, scratch_engine, towered):
    answer = scratch_http.post("/divide", data={"subdistrict": towered.sd, "oversize": "by-entrance"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    split = next(p for p in body["proposal"]["problems"] if p.get("resolution") == "by_entrance")
    assert [(p["entrances"], p["households"]) for p in split["parts"]] == [([1, 2, 3], 240), ([4, 5, 6], 240)]
    assert body["split"] is None and _state(scratch_engine, towered) == (None, None)
    bad = scratch_http.post("/divide", data={"subdistrict": towered.sd, "oversize": "by-floor"})
    assert bad.status_code == 422 and "oversize" in bad.text
    done = scratch_http.post("/divide", data={"subdistrict": towered.sd, "oversize": "by-entrance", "adopt": "true",
                                              "reason": "按单元拆分12号楼"}, headers={"If-Match": body["etag"]})
    assert done.status_code == 200, done.text
    parts = done.json()["split"][0]["parts"]
    assert [p["households_moved"] for p in parts] == [240, 240]
    assert _state(scratch_engine, towered) == ("split", "12号楼 1–3单元:240,12号楼 4–6单元:240")
    with Session(scratch_engine) as db:
        household = db.execute(text("SELECT id FROM households WHERE building_id = :b ORDER BY id LIMIT 1"),
                               {"b": parts[1]["id"]}).scalar()
        moved = records.history(db, KINDS["households"], household, WHOLE)
        assert [(v["operation"], v["by"], v["reason"]) for v in moved] == [
            ("move", "tests", "按单元拆分12号楼"), ("create", "test", "hand-built tower")]
        assert moved[0]["changes"]["building_id"] == {"before": towered.tower, "after": parts[1]["id"]}
        ended = records.history(db, KINDS["buildings"], towered.tower, WHOLE)[0]
        assert (ended["operation"], ended["changes"]["end_reason"]["after"]) == ("end", "split")
        disagree = db.execute(text("""
            SELECT count(*) FROM grids g JOIN grid_loads gl ON gl.grid_id = g.id
            WHERE g.subdistrict_code = :sd AND g.retired_at IS NULL AND gl.households <> (
                SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id
                WHERE g.id IN (b.grid_l1_id, b.grid_l2_id))"""), {"sd": towered.sd}).scalar()
        assert disagree == 0  # loads and grid membership agree, household by household


def test_the_divide_command_takes_oversize_and_adopts_it(scratch_engine, towered):
    env = {**os.environ, "GISGRID_DATABASE_URL": scratch_engine.url.render_as_string(hide_password=False)}
    run = [GISGRID, "divide", "--subdistrict", towered.sd, "--oversize", "by-entrance"]
    dry = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert "12号楼 1–3单元 (单元 1–3, 240 households)" in dry.stdout and "12号楼 4–6单元" in dry.stdout
    assert _state(scratch_engine, towered) == (None, None)
    bad = subprocess.run([*run[:-1], "by-floor"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "oversize" in bad.stderr and "Traceback" not in bad.stderr
    done = subprocess.run([*run, "--adopt", "--reason", "按单元拆分12号楼", "--json"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p["households_moved"] for p in json.loads(done.stdout)["split"][0]["parts"]] == [240, 240]
    assert _state(scratch_engine, towered) == ("split", "12号楼 1–3单元:240,12号楼 4–6单元:240")
