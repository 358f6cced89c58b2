"""Automatic division on hand-built places with known answers, and on the demo (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from shapely import LineString
from shapely.geometry import mapping, shape
from sqlalchemy import text

from gisgrid.core.errors import Conflict, InvalidInput
from gisgrid.core.scope import WHOLE
from gisgrid.division import adjacency, service
from gisgrid.division.partition import Band

from builders import Territory, lonlat, metres_box

GISGRID = str(Path(sys.executable).parent / "gisgrid")
SD = "110101901"


def streets_file(tmp_path: Path, lines_m: list[tuple[list[tuple[float, float]], str]]) -> Path:
    """A GeoJSON of street lines drawn in local metres, each with its rank, as a user brings one."""
    path = tmp_path / "streets.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(lonlat(LineString(coords), on_grid=False)), "properties": {"rank": rank}}
        for coords, rank in lines_m]}, ensure_ascii=False))
    return path


def place(db, width: int, buildings: list[tuple[float, int]], grids: list[tuple[int, int]] | None = None) -> Territory:
    """A sub-district ``width`` m by 200 m: one L1 zone, L2 grids over [x0, x1) strips (one over
    everything by default), buildings at (x, 100) with their households."""
    from gisgrid.grids import membership

    t = Territory(db, SD, metres_box(0, 0, width, 200))
    t.grid("001", metres_box(0, 0, width, 200))
    for i, (x0, x1) in enumerate(grids or [(0, width)]):
        t.grid(f"001{i + 1:03d}", metres_box(x0, 0, x1, 200))
    for x, households in buildings:
        t.building(x, 100, households=households, people_each=1)
    membership.refresh(db, subdistrict=SD)
    db.flush()
    return t


def ids_at(db) -> dict[float, int]:
    """Building id by its x (metres), from the address the builder wrote."""
    rows = db.execute(text("SELECT id, address FROM buildings WHERE subdistrict_code = :sd"), {"sd": SD}).all()
    return {float(address.split("测试路")[1].split("-")[0]): building for building, address in rows}


def groups(proposal: dict) -> list[list[int]]:
    return sorted(sorted(f["properties"]["building_ids"]) for f in proposal["features"])


def test_a_street_grid_gets_its_only_balanced_contiguous_split_with_borders_on_the_streets(db, tmp_path):
    place(db, 600, [(x, 125) for x in (50, 150, 250, 350, 450, 550)])
    streets = streets_file(tmp_path, [([(200, -20), (200, 220)], "支路"), ([(400, -20), (400, 220)], "支路")])
    proposal = service.divide(db, service.DivideRequest(SD, streets=streets), WHOLE)
    at = ids_at(db)
    assert groups(proposal) == sorted([[at[50], at[150]], [at[250], at[350]], [at[450], at[550]]])
    assert [f["properties"]["households"] for f in proposal["features"]] == [250, 250, 250]
    assert all(f["properties"]["street_share"] == 1.0 for f in proposal["features"])
    assert all(f["properties"]["polsby_popper"] == pytest.approx(0.785, abs=0.01) for f in proposal["features"])
    s = proposal["summary"]
    assert (s["grids"], s["in_band"], s["in_band_share"], s["households_stdev"]) == (3, 3, 1.0, 0.0)
    assert proposal["problems"] == []


def test_without_streets_the_buildings_own_cells_tile_the_parent_with_no_gap_or_overlap(db):
    place(db, 600, [(x, 100 + (x % 7) * 3) for x in range(15, 600, 30)])  # 20 buildings, 2,110 households
    proposal = service.divide(db, service.DivideRequest(SD), WHOLE)
    shapes = [shape(f["geometry"]) for f in proposal["features"]]
    parent = lonlat(metres_box(0, 0, 600, 200))
    union = shapely.union_all(shapes)
    assert union.symmetric_difference(parent).area < parent.area * 1e-9
    assert sum(s.area for s in shapes) == pytest.approx(union.area, rel=1e-9)
    assert all(len(shapely.get_parts(s)) == 1 for s in shapes)  # contiguous
    assert all(200 <= f["properties"]["households"] <= 300 for f in proposal["features"])
    assert proposal["summary"]["in_band_share"] == 1.0 and proposal["summary"]["street_share_median"] is None


def test_a_building_over_the_ceiling_is_a_grid_of_its_own_and_reported(db):
    place(db, 600, [(50, 125), (150, 125), (300, 350), (450, 125), (550, 125)])
    proposal = service.divide(db, service.DivideRequest(SD), WHOLE)
    at = ids_at(db)
    assert [at[300]] in groups(proposal)
    assert [(p["kind"], p["buildings"], p["households"]) for p in proposal["problems"]] == [
        ("building_over_ceiling", [at[300]], 350)]
    over = [f for f in proposal["features"] if f["properties"]["building_ids"] == [at[300]]][0]
    assert not over["properties"]["in_band"]
    assert sorted(f["properties"]["households"] for f in proposal["features"] if f is not over) == [250, 250]


def test_an_island_block_behind_a_river_is_never_joined_across_it_and_is_reported(db, tmp_path):
    place(db, 600, [(50, 125), (150, 125), (250, 125), (350, 125), (500, 120)])
    streets = streets_file(tmp_path, [([(400, -20), (400, 220)], "river")])
    proposal = service.divide(db, service.DivideRequest(SD, streets=streets), WHOLE)
    at = ids_at(db)
    assert groups(proposal) == sorted([[at[50], at[150]], [at[250], at[350]], [at[500]]])
    assert [(p["kind"], p["buildings"], p["households"]) for p in proposal["problems"]] == [
        ("band_infeasible", [at[500]], 120)]
    island = [f for f in proposal["features"] if f["properties"]["building_ids"] == [at[500]]][0]
    expected = lonlat(metres_box(400, 0, 600, 200))
    assert shape(island["geometry"]).symmetric_difference(expected).area < expected.area * 1e-9


def test_a_community_whose_households_no_count_of_grids_fits_is_reported_not_hidden(db):
    place(db, 400, [(50, 80), (150, 80), (250, 80), (350, 80)])  # 320: one grid is over, two are under
    proposal = service.divide(db, service.DivideRequest(SD), WHOLE)
    assert [(p["kind"], p["households"]) for p in proposal["problems"]] == [("band_infeasible", 320)]
    assert proposal["summary"]["in_band"] < proposal["summary"]["grids"]


def test_rebalance_keeps_grids_in_band_and_moves_only_households_of_grids_out_of_band(db):
    place(db, 800, [(100, 250), (250, 225), (350, 225), (500, 120), (700, 100)],
          grids=[(0, 200), (200, 400), (400, 600), (600, 800)])
    proposal = service.divide(db, service.DivideRequest(SD, mode="rebalance"), WHOLE)
    at = ids_at(db)
    by_code = {f["properties"]["code"]: f for f in proposal["features"] if f["properties"]["code"]}
    kept = by_code[SD + "001001"]
    assert kept["properties"]["kept"] and kept["properties"]["building_ids"] == [at[100]]
    assert shape(kept["geometry"]).normalize().equals_exact(
        shapely.MultiPolygon([lonlat(metres_box(0, 0, 200, 200))]).normalize(), 0)  # kept exactly
    assert groups(proposal) == sorted([[at[100]], [at[250]], [at[350]], [at[500], at[700]]])
    merged = [f for f in proposal["features"] if len(f["properties"]["building_ids"]) == 2][0]
    assert merged["properties"]["code"] == SD + "001003"  # the larger of the two under-band grids carries on
    assert merged["properties"]["households"] == 220
    assert proposal["summary"]["households_moved"] == 225 + 100  # half the split grid, the merged-in grid
    assert proposal["summary"]["in_band_share"] == 1.0


def test_adopting_is_one_grid_import_versioned_audited_and_refused_when_the_layer_moved(db, tmp_path):
    place(db, 600, [(x, 125) for x in (50, 150, 250, 350, 450, 550)])
    streets = streets_file(tmp_path, [([(200, -20), (200, 220)], "支路"), ([(400, -20), (400, 220)], "支路")])
    request = service.DivideRequest(SD, streets=streets)
    preview = service.divide_and_adopt(db, request, WHOLE, actor="tester", reason=None, adopt_with=None,
                                       adopt_now=False)
    assert preview["impact"]["dry_run"] and preview["adopted"] is None
    assert db.execute(text("SELECT count(*) FROM grids WHERE parent_code = :p AND retired_at IS NULL"),
                      {"p": SD + "001"}).scalar() == 1
    with pytest.raises(Conflict):
        service.divide_and_adopt(db, request, WHOLE, actor="tester", reason="按街巷划分", adopt_with='"layer-stale"',
                                 adopt_now=True)
    assert db.execute(text("SELECT count(*) FROM grids WHERE parent_code = :p AND retired_at IS NULL"),
                      {"p": SD + "001"}).scalar() == 1
    done = service.divide_and_adopt(db, request, WHOLE, actor="tester", reason="按街巷划分", adopt_with=preview["etag"],
                                    adopt_now=True)
    assert not done["adopted"]["dry_run"]
    rows = db.execute(text("""SELECT g.code, l.households FROM grids g JOIN grid_loads l ON l.grid_id = g.id
                              WHERE g.parent_code = :p AND g.retired_at IS NULL ORDER BY g.code"""),
                      {"p": SD + "001"}).all()
    assert [r.households for r in rows] == [250, 250, 250]
    assert [r.code for r in rows] == [SD + "001001", SD + "001002", SD + "001003"]
    per_grid = db.execute(text("""SELECT g.code, count(*) FROM buildings b JOIN grids g ON g.id = b.grid_l2_id
                                  WHERE b.subdistrict_code = :sd GROUP BY g.code ORDER BY g.code"""), {"sd": SD}).all()
    assert [n for _, n in per_grid] == [2, 2, 2]
    assert db.execute(text("SELECT count(*) FROM audit_log WHERE action = 'grid.import' AND actor = 'tester' "
                           "AND detail->>'reason' = '按街巷划分'")).scalar() == 1
    history = db.execute(text("SELECT count(*) FROM grid_versions WHERE code = :c"), {"c": SD + "001001"}).scalar()
    assert history >= 1


def test_bad_requests_say_what_is_wrong(db):
    with pytest.raises(InvalidInput, match="band"):
        service.parse_band("300-200")
    with pytest.raises(InvalidInput, match="level"):
        service.divide(db, service.DivideRequest(SD, level=1), WHOLE)
    with pytest.raises(InvalidInput, match="mode"):
        service.divide(db, service.DivideRequest(SD, mode="shuffle"), WHOLE)


def test_the_demo_divides_into_contiguous_nested_grids_in_band_covering_each_community(db, demo):
    sd = demo.subdistrict.code if hasattr(demo, "subdistrict") else db.execute(
        text("SELECT code FROM subdistricts ORDER BY code LIMIT 1")).scalar()
    proposal = service.divide(db, service.DivideRequest(sd), WHOLE)
    parents = {r.code: shapely.from_wkb(r.geom) for r in db.execute(text(
        "SELECT code, ST_AsBinary(geom) AS geom FROM grids WHERE subdistrict_code = :sd AND level = 1 "
        "AND retired_at IS NULL"), {"sd": sd})}
    infeasible = {p["parent"] for p in proposal["problems"] if p["kind"] != "no_households"}
    for code, parent in parents.items():
        mine = [shape(f["geometry"]) for f in proposal["features"] if f["properties"]["parent"] == code]
        union = shapely.union_all(mine)
        # within what storing vertices on the 1e-7° grid moves (a few m² of a community's ~1 km²)
        assert union.symmetric_difference(parent).area < parent.area * 1e-5, code
        assert sum(s.area for s in mine) == pytest.approx(union.area, rel=1e-5)
        assert all(len(shapely.get_parts(s)) == 1 for s in mine), code
    in_feasible = [f for f in proposal["features"] if f["properties"]["parent"] not in infeasible]
    assert in_feasible and all(f["properties"]["in_band"] for f in in_feasible)
    households = db.execute(text("""SELECT coalesce(sum(l.households), 0) FROM buildings b
                                    JOIN building_loads l ON l.building_id = b.id
                                    WHERE b.subdistrict_code = :sd AND b.grid_l1_id IS NOT NULL"""), {"sd": sd}).scalar()
    assert proposal["summary"]["households"] == households


def test_post_divide_is_a_dry_run_with_the_impact_and_refuses_bad_input(http, db, demo):
    sd = db.execute(text("SELECT code FROM subdistricts ORDER BY code LIMIT 1")).scalar()
    community = db.execute(text("SELECT code FROM grids WHERE subdistrict_code = :sd AND level = 1 ORDER BY code "
                                "LIMIT 1"), {"sd": sd}).scalar()
    before = db.execute(text("SELECT max(updated_at) FROM grids")).scalar()
    answer = http.post("/divide", data={"subdistrict": sd, "community": community})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["adopted"] is None and body["impact"]["dry_run"] and body["etag"].startswith('"layer-')
    created = body["impact"]["impact"]["defects"]["created"]
    assert [d for d in created if d["level"] <= 2] == []  # no gap, no overlap of grids by the coverage analysis
    # the redrawn grids' micro-grids are retired with them (to be drawn anew with --level 3): their ground is open
    retired = [g for g in body["impact"]["grids"] if "retired" in g["actions"] and len(g["code"]) == 18]
    assert retired and {d["level"] for d in created} <= {3}
    assert {f["properties"]["parent"] for f in body["proposal"]["features"]} == {community}
    assert db.execute(text("SELECT max(updated_at) FROM grids")).scalar() == before
    bad = http.post("/divide", data={"subdistrict": sd, "band": "many"})
    assert bad.status_code == 422 and "band" in bad.text
    missing = http.post("/divide", data={"subdistrict": "999999999"})
    assert missing.status_code == 404
    refused = http.post("/divide", data={"subdistrict": sd, "community": community, "adopt": "true"})
    assert refused.status_code == 422 and "reason" in refused.text


def test_the_divide_command_writes_the_proposal_and_says_what_is_wrong(database_url, demo, db, tmp_path):
    sd = db.execute(text("SELECT code FROM subdistricts ORDER BY code LIMIT 1")).scalar()
    community = db.execute(text("SELECT code FROM grids WHERE subdistrict_code = :sd AND level = 1 ORDER BY code "
                                "LIMIT 1"), {"sd": sd}).scalar()
    env = {**os.environ, "GISGRID_DATABASE_URL": database_url}
    out = tmp_path / "proposal.geojson"
    done = subprocess.run([GISGRID, "divide", "--subdistrict", sd, "--community", community, "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "proposal" in done.stdout and "etag" in done.stdout
    written = json.loads(out.read_text())
    assert written["features"] and {f["properties"]["parent"] for f in written["features"]} == {community}
    bad = subprocess.run([GISGRID, "divide", "--subdistrict", sd, "--band", "300-200"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "band" in bad.stderr and "Traceback" not in bad.stderr
    no_reason = subprocess.run([GISGRID, "divide", "--subdistrict", sd, "--adopt"], capture_output=True, text=True,
                               env=env, timeout=120)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr


def test_band_object_holds_its_edges():
    band = Band(200, 300)
    assert band.holds(200) and band.holds(300) and not band.holds(199) and not band.holds(301)


def test_a_cell_cut_into_a_polygon_and_a_sliver_of_line_keeps_its_area_and_its_boundary():
    """A Voronoi cell clipped by a ragged block can come back as a collection (an area and a line
    where the edges touch); its grid still has a boundary to share with an empty block."""
    piece = shapely.GeometryCollection([shapely.box(0, 0, 10, 10), shapely.LineString([(10, 10), (12, 12)])])
    cell = adjacency._polygonal(piece)
    assert cell.geom_type == "Polygon" and cell.area == 100 and cell.boundary.length == 40
    shapes = [cell]
    service._give_fillers(shapes, [shapely.box(10, 0, 20, 10)])
    assert shapes[0].area == 200
