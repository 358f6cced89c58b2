"""A count of key-group residents under the small-count setting names a person in a grid of 250
households: callers without person access (a viewer) see "<5" on maps (GeoJSON items and vector
tiles alike); staff with person access keep the numbers."""

from __future__ import annotations

import httpx
import mapbox_vector_tile
import pytest
from sqlalchemy import text

from gisgrid.demo.accounts import PASSWORDS


@pytest.fixture(scope="module")
def viewer(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        token = client.post("/auth/sign-in", json={"username": "viewer", "password": PASSWORDS["viewer"]}).json()
    return {"Authorization": f"Bearer {token['token']}"}


def small_building(engine):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT b.id, l.key_group_people, ST_X(b.geom), ST_Y(b.geom) FROM buildings b
            JOIN building_loads l ON l.building_id = b.id
            WHERE l.key_group_people BETWEEN 1 AND 4 ORDER BY b.id LIMIT 1""")).one()


def items(http, headers, lon, lat):
    box = f"{lon - 1e-5},{lat - 1e-5},{lon + 1e-5},{lat + 1e-5}"
    answer = http.get("/layers/buildings/items", params={"bbox": box}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {f["properties"]["id"]: f["properties"] for f in answer.json()["features"]}


def test_a_viewer_sees_a_small_key_group_count_as_under_five_and_staff_see_the_number(http, viewer, engine):
    building, count, lon, lat = small_building(engine)
    assert items(http, viewer, lon, lat)[building]["key_group_people"] == "<5"
    assert items(http, {}, lon, lat)[building]["key_group_people"] == count  # the tests' key: an administrator
    with engine.connect() as conn:
        big = conn.execute(text("""SELECT b.id, l.key_group_people, ST_X(b.geom), ST_Y(b.geom) FROM buildings b
                                   JOIN building_loads l ON l.building_id = b.id WHERE l.key_group_people >= 5
                                   ORDER BY b.id LIMIT 1""")).one()
    assert items(http, viewer, big[2], big[3])[big[0]]["key_group_people"] == str(big[1])  # not small: shown


def test_vector_tiles_mask_small_counts_for_a_viewer_and_are_cached_apart(http, viewer, engine):
    import math

    building, count, lon, lat = small_building(engine)
    z = 16
    x = int((lon + 180) / 360 * 2 ** z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2 ** z)

    def value(headers):
        tile = http.get(f"/layers/buildings/tiles/{z}/{x}/{y}.mvt", headers=headers)
        assert tile.status_code == 200, tile.text
        features = mapbox_vector_tile.decode(tile.content)["buildings"]["features"]
        return next(f["properties"]["key_group_people"] for f in features if f["properties"]["id"] == building)

    assert value({}) == count          # the administrator first: their tile is cached
    assert value(viewer) == "<5"       # the viewer never meets it
    assert value({}) == count
