"""The read API and pages over real HTTP against the demo data."""

from __future__ import annotations

import pytest
from shapely.geometry import box, shape
from sqlalchemy import text

from gisgrid.core import migrate

from geojson_checks import assert_rfc7946


def test_health(http):
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["postgres"].startswith("15")
    assert body["migration"] == body["migration_head"] == migrate.head_revision()


def test_landing_page_in_chinese_and_english(http, db):
    buildings = db.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    zh = http.get("/")
    assert zh.status_code == 200 and "text/html" in zh.headers["content-type"]
    assert "网格" in zh.text and f"{buildings:,}" in zh.text
    assert 'href="/docs"' in zh.text
    en = http.get("/", params={"lang": "en"})
    assert "Grids" in en.text and "Households" in en.text
    assert http.get("/", params={"lang": "fr"}).status_code == 422


def test_subdistrict_is_the_demo_boundary_in_lon_lat(http, demo):
    response = http.get("/subdistrict")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert_rfc7946(body)
    assert body["numberMatched"] == 1
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    lon, lat = shape(feature["geometry"]).centroid.coords[0]
    assert 103.5 < lon < 104.5 and 30.3 < lat < 31.0  # Chengdu, lon/lat order
    props = feature["properties"]
    assert props["grids"] == {"1": 8, "2": props["grids"]["2"], "3": props["grids"]["3"]}
    assert 5 < props["area_km2"] < 15


def test_grids_carry_code_level_parent_and_load(http, db, demo):
    body = http.get("/grids", params={"level": 1}).json()
    assert_rfc7946(body)
    assert body["numberMatched"] == body["numberReturned"] == 8
    l1 = body["features"][0]["properties"]
    assert set(l1) >= {"code", "name", "level", "parent_code", "households", "people"}
    assert l1["level"] == 1 and l1["parent_code"] is None and len(l1["code"]) == 12

    children = http.get("/grids", params={"parent": l1["code"], "limit": 1000}).json()
    assert_rfc7946(children)
    assert children["numberMatched"] > 0
    for feature in children["features"]:
        props = feature["properties"]
        assert props["level"] == 2 and props["parent_code"] == l1["code"]
        assert props["code"].startswith(l1["code"]) and len(props["code"]) == 15
    expected = db.execute(text("""
        SELECT count(h.id) FILTER (WHERE h.occupancy <> 'vacant')
        FROM grids g JOIN buildings b ON ST_Covers(g.geom, b.geom)
        JOIN households h ON h.building_id = b.id WHERE g.code = :c
    """), {"c": l1["code"]}).scalar_one()
    assert l1["households"] == expected > 0


def test_grid_pages_are_stable_and_complete(http, db, demo):
    total = db.execute(text("SELECT count(*) FROM grids WHERE level = 2")).scalar_one()
    seen = []
    for offset in range(0, total + 25, 25):
        page = http.get("/grids", params={"level": 2, "limit": 25, "offset": offset}).json()
        assert page["numberMatched"] == total
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


def test_bbox_filters_grids_and_buildings(http, demo):
    everything = http.get("/buildings", params={"limit": 5000}).json()
    assert_rfc7946(everything)
    lons = [f["geometry"]["coordinates"][0] for f in everything["features"]]
    lats = [f["geometry"]["coordinates"][1] for f in everything["features"]]
    west, south = min(lons), min(lats)
    east, north = (west + max(lons)) / 2, (south + max(lats)) / 2
    window = box(west, south, east, north)
    bbox = f"{west},{south},{east},{north}"
    inside = http.get("/buildings", params={"bbox": bbox, "limit": 5000}).json()
    assert 0 < inside["numberMatched"] < everything["numberMatched"]
    expected = {f["id"] for f in everything["features"] if window.intersects(shape(f["geometry"]))}
    assert {f["id"] for f in inside["features"]} == expected
    grids = http.get("/grids", params={"bbox": bbox, "level": 3, "limit": 5000}).json()
    assert grids["numberMatched"] > 0
    assert all(window.intersects(shape(f["geometry"])) for f in grids["features"])


def test_buildings_have_footprints_and_households(http, demo):
    body = http.get("/buildings", params={"limit": 50}).json()
    assert body["numberReturned"] == 50
    props = [f["properties"] for f in body["features"]]
    assert all(p["footprint"]["type"] == "Polygon" for p in props)
    assert any(p["households"] > 0 for p in props)


@pytest.mark.parametrize(
    ("path", "params", "status", "where"),
    [
        ("/grids", {"bbox": "1,2,3"}, 422, "bbox"),
        ("/grids", {"bbox": "a,b,c,d"}, 422, "bbox"),
        ("/grids", {"bbox": "104,30,103,31"}, 422, "bbox"),
        ("/buildings", {"bbox": "30.6,104.0,30.7,104.1"}, 422, "bbox"),
        ("/grids", {"limit": 0}, 422, "query.limit"),
        ("/grids", {"limit": 100000}, 422, "limit"),
        ("/grids", {"offset": -1}, 422, "query.offset"),
        ("/grids", {"level": 4}, 422, "query.level"),
        ("/grids", {"parent": "abc"}, 422, "parent"),
        ("/grids", {"parent": "999999999001"}, 404, "parent"),
        ("/subdistrict", {"code": "12"}, 422, "query.code"),
    ],
)
def test_bad_input_gets_a_clear_4xx(http, path, params, status, where):
    response = http.get(path, params=params)
    assert response.status_code == status
    body = response.json()
    assert body["where"] == where
    assert body["message"]
    assert "Traceback" not in response.text


def test_unknown_path_is_a_json_404(http):
    response = http.get("/no-such-thing")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_api_docs_are_served_offline(http):
    page = http.get("/docs")
    assert page.status_code == 200
    assert "/static/docs/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert http.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    redoc = http.get("/redoc")
    assert "/static/docs/redoc.standalone.js" in redoc.text and "fonts.googleapis" not in redoc.text
    spec = http.get("/openapi.json").json()
    assert {"/grids", "/buildings", "/subdistrict", "/health"} <= set(spec["paths"])
