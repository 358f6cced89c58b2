"""The vector-tile cache: hits, an exact sweep by the change that touches a tile, and no stale
tile even when a tile is rendered while a change is in flight."""

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


def cached(engine, z, x, y) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tile_cache WHERE layer LIKE 'grids_l2@%' "
                                 "AND z = :z AND x = :x AND y = :y"), {"z": z, "x": x, "y": y}).scalar_one()


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
