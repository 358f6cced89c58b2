"""Boundary editing over real HTTP: versions as ETags, lost updates, bad input, history, import.

These changes commit, so they run on the scratch database, each test in a sub-district of its
own, laid out 1 km east of the previous one.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import shapely
from conftest import AUTH
from shapely.geometry import mapping
from sqlalchemy import text

from builders import Town, lonlat


@pytest.fixture
def town(scratch_engine):
    return Town(scratch_engine)


def versions(engine, code) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT v.version, v.operation, v.reason, v.changed_by FROM grid_versions v "
                                 "JOIN grids g ON g.id = v.grid_id WHERE g.code = :c ORDER BY v.version"),
                            {"c": code}).all()


def test_etag_if_match_428_409_and_a_good_save(scratch_http, scratch_engine, town):
    got = scratch_http.get(f"/grids/{town.west}")
    assert got.status_code == 200 and got.headers["etag"] == '"v1"'
    body = {"to": town.east, "area": town.geo(150, 0, 200, 100), "reason": "小区划归东网格",
            "versions": {town.east: 1}}
    missing = scratch_http.post(f"/grids/{town.west}/transfer", json=body)
    assert missing.status_code == 428 and missing.json()["where"] == "If-Match"
    stale = scratch_http.post(f"/grids/{town.west}/transfer", json=body, headers={"If-Match": '"v0"'})
    assert stale.status_code == 409
    assert stale.json()["detail"]["current_version"] == 1
    assert stale.json()["detail"]["current"]["properties"]["code"] == town.west
    saved = scratch_http.post(f"/grids/{town.west}/transfer", json=body,
                              headers={"If-Match": got.headers["etag"], "X-Actor": quote("王技术员")})
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"v2"'
    assert saved.json()["impact"]["households_moved"] == 10
    history = scratch_http.get(f"/grids/{town.west}/history").json()
    latest = history["features"][0]["properties"]
    assert (latest["version"], latest["operation"], latest["reason"], latest["changed_by"]) == \
        (2, "transfer", "小区划归东网格", "王技术员")
    assert history["numberMatched"] == 2


def test_twenty_concurrent_edits_from_one_version_exactly_one_wins(scratch_server, scratch_engine, town):
    import httpx

    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def edit(i: int) -> None:
        body = {"geometry": town.geo(0, 0, 200 - i, 200), "reason": f"第{i}人的修改", "mode": "strict"}
        with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as client:
            barrier.wait()
            statuses.append(client.post(f"/grids/{town.west}/reshape", json=body,
                                        headers={"If-Match": '"v1"'}).status_code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 19
    assert [v.version for v in versions(scratch_engine, town.west)] == [1, 2]


def test_dry_run_keeps_nothing(scratch_http, scratch_engine, town):
    before = versions(scratch_engine, town.west)
    preview = scratch_http.post(f"/grids/{town.west}/reshape?dry_run=true",
                                json={"geometry": town.geo(0, 0, 150, 200), "reason": "试算"})
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    assert preview.json()["impact"]["defects"]["created"][0]["type"] == "blind_spot"
    assert versions(scratch_engine, town.west) == before
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT g.code FROM buildings b JOIN grids g ON g.id = b.grid_l2_id "
                                 "WHERE b.id = :id"), {"id": town.west_building}).scalar_one() == town.west


def _ring(*points):
    return {"type": "Polygon", "coordinates": [[list(p) for p in points]]}


BAD = {
    "self-intersection": (lambda t: _ring(*[lonlat(shapely.Point(x + t.dx, y)).coords[0] for x, y in
                                            ((0, 0), (100, 100), (100, 0), (0, 100), (0, 0))]),
                          "Self-intersection", "geometry"),
    "unclosed ring": (lambda t: _ring(*[lonlat(shapely.Point(x + t.dx, y)).coords[0] for x, y in
                                        ((0, 0), (100, 0), (100, 100), (0, 100))]), "not closed",
                      "geometry.coordinates[0]"),
    "too few points": (lambda t: _ring((116.39, 39.90), (116.391, 39.90), (116.39, 39.90)), "at least 4",
                       "geometry.coordinates[0]"),
    "empty": (lambda t: {"type": "Polygon", "coordinates": []}, "empty", "geometry.coordinates"),
    "not a number": (lambda t: _ring((116.39, 39.90), ("east", 39.90), (116.391, 39.901), (116.39, 39.90)),
                     "not a number", "geometry.coordinates[0][1]"),
    "out of range": (lambda t: _ring((200.0, 39.90), (200.1, 39.90), (200.1, 39.91), (200.0, 39.90)),
                     "out of lon/lat range", "geometry"),
    "swapped": (lambda t: _ring((39.90, 116.39), (39.90, 116.40), (39.91, 116.40), (39.90, 116.39)),
                "swapped", "geometry"),
    "wrong type": (lambda t: {"type": "Point", "coordinates": [116.39, 39.9]}, "Polygon or MultiPolygon",
                   "geometry"),
    "too many vertices": (lambda t: mapping(lonlat(t.box(0, 0, 200, 200)).segmentize(1e-7)),
                          "more than the cap", "geometry"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_shape_gets_its_own_422_and_nothing_is_stored(scratch_http, scratch_engine, town, case):
    make, message, where = BAD[case]
    before = versions(scratch_engine, town.west)
    answer = scratch_http.post(f"/grids/{town.west}/reshape", json={"geometry": make(town), "reason": "坏输入"},
                               headers={"If-Match": '"v1"'})
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"] and answer.json()["where"] == where
    assert versions(scratch_engine, town.west) == before


def test_nan_coordinates_are_refused(scratch_http, town):
    body = json.dumps({"geometry": _ring((116.39, 39.90), (float("nan"), 39.90), (116.391, 39.901),
                                         (116.39, 39.90)), "reason": "坏输入"})
    answer = scratch_http.post(f"/grids/{town.west}/reshape", content=body,
                               headers={"If-Match": '"v1"', "Content-Type": "application/json"})
    assert answer.status_code == 422 and "NaN" in answer.json()["message"]


def test_unknown_crs_and_undeclared_fields_are_refused(scratch_http, town):
    body = {"geometry": town.geo(0, 0, 150, 200), "reason": "x", "crs": "mars"}
    assert scratch_http.post(f"/grids/{town.west}/reshape", json=body).json()["where"] == "crs"
    body = {"geometry": town.geo(0, 0, 150, 200), "reason": "x", "version": 3}
    answer = scratch_http.post(f"/grids/{town.west}/reshape", json=body)
    assert answer.status_code == 422 and "version" in answer.json()["where"]


def test_layer_as_of_a_past_moment_and_restore(scratch_http, scratch_engine, town):
    moment = datetime.now(UTC).isoformat()
    saved = scratch_http.post(f"/grids/{town.west}/reshape", json={"geometry": town.geo(0, 0, 150, 200),
                              "reason": "缩小"}, headers={"If-Match": '"v1"'})
    assert saved.status_code == 200
    then = scratch_http.get("/grids", params={"parent": town.l1, "as_of": moment}).json()
    now = scratch_http.get("/grids", params={"parent": town.l1}).json()
    area_then = {f["id"]: shapely.geometry.shape(f["geometry"]).area for f in then["features"]}
    area_now = {f["id"]: shapely.geometry.shape(f["geometry"]).area for f in now["features"]}
    assert area_then[town.west] == pytest.approx(area_now[town.west] * 4 / 3, rel=1e-6)
    restored = scratch_http.post(f"/grids/{town.west}/restore", json={"version": 1, "reason": "恢复原边界"},
                                 headers={"If-Match": '"v2"'})
    assert restored.status_code == 200 and restored.headers["etag"] == '"v3"'
    back = scratch_http.get(f"/grids/{town.west}").json()
    assert shapely.geometry.shape(back["geometry"]).area == pytest.approx(area_then[town.west], rel=1e-9)
    assert [v.operation for v in versions(scratch_engine, town.west)] == ["create", "reshape", "restore"]


def test_import_a_layer_as_one_change(scratch_http, scratch_engine, town, tmp_path):
    layer = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": town.west, "name": "西网格"}, "geometry": town.geo(0, 0, 150, 200)},
        {"type": "Feature", "properties": {"code": town.sd + "001003", "name": "新网格"},
         "geometry": town.geo(150, 0, 400, 200)},
    ]}
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(layer, ensure_ascii=False))

    def send(dry_run: bool, if_match: str | None = None):
        headers = {"If-Match": if_match} if if_match else {}
        return scratch_http.post("/grids/import", params={"dry_run": dry_run}, headers=headers,
                                 data={"reason": "年度网格调整"},
                                 files={"file": ("grids.geojson", path.read_bytes(), "application/geo+json")})

    preview = send(True)
    assert preview.status_code == 200, preview.text
    summary = preview.json()["summary"]
    assert (summary["reshaped"], summary["renamed"], summary["created"], summary["retired"]) == (1, 1, 1, 1)
    assert send(False).status_code == 428
    assert send(False, '"layer-0000"').status_code == 409
    saved = send(False, preview.json()["etag"])
    assert saved.status_code == 200, saved.text
    with scratch_engine.connect() as conn:
        east_retired = conn.execute(text("SELECT retired_at IS NOT NULL FROM grids WHERE code = :c"),
                                    {"c": town.east}).scalar_one()
        building_grid = conn.execute(text("SELECT g.code FROM buildings b JOIN grids g ON g.id = b.grid_l2_id "
                                          "WHERE b.id = :id"), {"id": town.west_building}).scalar_one()
    assert east_retired and building_grid == town.sd + "001003"
    assert [v.operation for v in versions(scratch_engine, town.east)] == ["create", "import"]
