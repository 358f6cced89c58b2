"""The vector-tile cache: hits, an exact sweep by the change that touches a tile, and no stale
tile even when a tile is rendered while a change is in flight — for boundary edits and for the
counts the layers show (households, people, key-group residents, the grid lead)."""

from __future__ import annotations

import math
import threading
import time

import mapbox_vector_tile
from conftest import AUTH
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.grids import operations
from gisgrid.grids.editing import EditRequest

from builders import Town


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def town_tile(engine, town, z=16):
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM grids "
                                     "WHERE code = :c) g"), {"c": town.west}).one()
    return tile_of(lon, lat, z)


def versions_in(content: bytes, code: str) -> list[int]:
    layer = mapbox_vector_tile.decode(content).get("grids_l2", {"features": []})
    return [f["properties"]["version"] for f in layer["features"] if f["properties"]["code"] == code]


def cached(engine, z, x, y, layer="grids_l2") -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tile_cache WHERE layer LIKE :layer || '@%' "
                                 "AND z = :z AND x = :x AND y = :y"), {"layer": layer, "z": z, "x": x, "y": y}).scalar_one()


def test_a_change_sweeps_exactly_the_tiles_it_touches(scratch_http, scratch_engine):
    town, far = Town(scratch_engine), Town(scratch_engine)
    here, there = town_tile(scratch_engine, town), town_tile(scratch_engine, far)
    assert here != there
    first = scratch_http.get("/layers/grids_l2/tiles/{}/{}/{}.mvt".format(*here))
    assert versions_in(first.content, town.west) == [1] and cached(scratch_engine, *here) == 1
    scratch_http.get("/layers/grids_l2/tiles/{}/{}/{}.mvt".format(*there))
    assert cached(scratch_engine, *there) == 1
    again = scratch_http.get("/layers/grids_l2/tiles/{}/{}/{}.mvt".format(*here))
    assert again.content == first.content  # a hit
    saved = scratch_http.post(f"/grids/{town.west}/reshape", headers={"If-Match": '"v1"'},
                              json={"geometry": town.geo(0, 0, 190, 200), "reason": "缩小", "mode": "fit"})
    assert saved.status_code == 200
    assert cached(scratch_engine, *here) == 0      # swept by the change …
    assert cached(scratch_engine, *there) == 1     # … and only there
    fresh = scratch_http.get("/layers/grids_l2/tiles/{}/{}/{}.mvt".format(*here))
    assert versions_in(fresh.content, town.west) == [2]


def test_a_tile_rendered_during_a_change_waits_for_it_and_is_never_stale(scratch_server, scratch_engine):
    import httpx

    town = Town(scratch_engine)
    z, x, y = town_tile(scratch_engine, town)
    session = Session(scratch_engine)
    operations.reshape(session, EditRequest(actor="t", reason="在途修改", versions={town.west: 1}), town.west,
                       geometry=town.geo(0, 0, 180, 200))   # written, not yet committed
    answer: dict = {}

    def fetch() -> None:
        with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as client:
            answer["tile"] = client.get(f"/layers/grids_l2/tiles/{z}/{x}/{y}.mvt").content

    thread = threading.Thread(target=fetch)
    thread.start()
    time.sleep(0.8)
    assert thread.is_alive(), "the tile was rendered while a change to its data was in flight"
    session.commit()
    session.close()
    thread.join(timeout=30)
    assert versions_in(answer["tile"], town.west) == [2]
    assert cached(scratch_engine, z, x, y) == 1


def building_tile(engine, town, z=16):
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE id = :b"),
                                {"b": town.west_building}).one()
    return tile_of(lon, lat, z)


def shown(http, layer, z, x, y, ident) -> dict:
    """The features of a layer's tile as id → properties."""
    content = http.get(f"/layers/{layer}/tiles/{z}/{x}/{y}.mvt").content
    features = mapbox_vector_tile.decode(content).get(layer, {"features": []})["features"]
    return {f["properties"][ident]: f["properties"] for f in features}


def commit(engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(text(sql), params)


def test_count_changes_sweep_exactly_the_tiles_that_show_them(scratch_http, scratch_engine):
    town = Town(scratch_engine)
    tile = building_tile(scratch_engine, town)

    def buildings():
        return shown(scratch_http, "buildings", *tile, "id")[town.west_building]

    def grid():
        return shown(scratch_http, "grids_l2", *tile, "code")[town.west]

    assert (buildings()["households"], buildings()["key_group_people"]) == (10, 0)
    assert (grid()["households"], grid()["people"], grid()["lead"]) == (10, 20, "组长001001")
    assert cached(scratch_engine, *tile, layer="buildings") == cached(scratch_engine, *tile) == 1

    household = commit(scratch_engine, "INSERT INTO households (building_id, entrance, floor, room, occupancy, "
                       "member_count) VALUES (:b, 9, 9, '901', 'rented', 3) RETURNING id",
                       b=town.west_building).scalar_one()
    assert cached(scratch_engine, *tile, layer="buildings") == cached(scratch_engine, *tile) == 0
    assert buildings()["households"] == 11 and (grid()["households"], grid()["people"]) == (11, 23)

    commit(scratch_engine, "UPDATE households SET room = '902' WHERE id = :h", h=household)
    assert cached(scratch_engine, *tile, layer="buildings") == cached(scratch_engine, *tile) == 1  # shown nowhere

    resident = commit(scratch_engine, "INSERT INTO residents (household_id, name, sex, birth_year, relation, "
                      "residence_type, party_member) VALUES (:h, '测试', 'M', 1950, '户主', 'registered', false) "
                      "RETURNING id", h=household).scalar_one()
    assert cached(scratch_engine, *tile, layer="buildings") == 1  # not in a key group: no count changed
    commit(scratch_engine, "INSERT INTO resident_key_groups (resident_id, key_group) "
           "SELECT :r, code FROM key_groups ORDER BY sort_order LIMIT 1", r=resident)
    assert cached(scratch_engine, *tile, layer="buildings") == 0 and cached(scratch_engine, *tile) == 1
    assert buildings()["key_group_people"] == 1

    commit(scratch_engine, "UPDATE staff SET name = '新组长' WHERE id = (SELECT a.staff_id FROM grid_assignments a "
           "JOIN grids g ON g.id = a.grid_id WHERE g.code = :c AND a.role = 'grid_lead')", c=town.west)
    assert cached(scratch_engine, *tile) == 0 and grid()["lead"] == "新组长"


def test_a_boundary_transfer_moves_the_counts_on_the_tiles(scratch_http, scratch_engine):
    town = Town(scratch_engine)
    tile = building_tile(scratch_engine, town)
    before = shown(scratch_http, "grids_l2", *tile, "code")
    assert (before[town.west]["households"], before[town.east]["households"]) == (10, 0)
    shown(scratch_http, "buildings", *tile, "id")
    saved = scratch_http.post(f"/grids/{town.west}/transfer", headers={"If-Match": '"v1"'},
                              json={"to": town.east, "area": town.geo(150, 0, 200, 100), "reason": "划转",
                                    "versions": {town.east: 1}})
    assert saved.status_code == 200, saved.text
    after = shown(scratch_http, "grids_l2", *tile, "code")
    assert (after[town.west]["households"], after[town.east]["households"]) == (0, 10)
    assert after[town.west]["load_status"] == after[town.east]["load_status"] == "under"
    assert shown(scratch_http, "buildings", *tile, "id")[town.west_building]["grid_code"] == town.east


def test_a_tile_rendered_during_a_household_change_waits_for_it_and_is_never_stale(scratch_server, scratch_engine):
    import httpx

    town = Town(scratch_engine)
    z, x, y = building_tile(scratch_engine, town)
    session = Session(scratch_engine)
    session.execute(text("INSERT INTO households (building_id, entrance, floor, room, occupancy, member_count) "
                         "VALUES (:b, 9, 9, '901', 'owner', 2)"), {"b": town.west_building})  # not yet committed
    answer: dict = {}

    def fetch() -> None:
        with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as client:
            answer["tile"] = client.get(f"/layers/buildings/tiles/{z}/{x}/{y}.mvt").content

    thread = threading.Thread(target=fetch)
    thread.start()
    time.sleep(0.8)
    assert thread.is_alive(), "the tile was rendered while a change to its counts was in flight"
    session.commit()
    session.close()
    thread.join(timeout=30)
    features = mapbox_vector_tile.decode(answer["tile"])["buildings"]["features"]
    assert [f["properties"]["households"] for f in features if f["properties"]["id"] == town.west_building] == [11]
    assert cached(scratch_engine, z, x, y, layer="buildings") == 1
