"""Lookup, ledger, household diagram and the read lists, over real HTTP on the demo."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gisgrid.core import crs

from geojson_checks import assert_rfc7946


@pytest.fixture(scope="module")
def an_l3(engine, demo):
    """A demo micro-grid with buildings, and one of its buildings' points."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT g.code, g.parent_code, ST_X(b.geom) AS lon, ST_Y(b.geom) AS lat, b.id AS building
            FROM buildings b JOIN grids g ON g.id = b.grid_l3_id
            JOIN households h ON h.building_id = b.id
            ORDER BY b.id LIMIT 1
        """)).one()


def test_lookup_returns_every_level_with_its_lead(http, an_l3):
    body = http.get("/lookup", params={"lon": an_l3.lon, "lat": an_l3.lat}).json()
    assert body["inside"] is True and body["message"] == "ok"
    assert [g["level"] for g in body["grids"]] == [1, 2, 3]
    assert body["grids"][2]["code"] == an_l3.code and body["grids"][1]["code"] == an_l3.parent_code
    assert all(g["lead"] and g["lead_phone"] for g in body["grids"])


def test_lookup_accepts_gcj02(http, an_l3):
    lon, lat = crs.from_wgs84(an_l3.lon, an_l3.lat, "GCJ-02")
    body = http.get("/lookup", params={"lon": float(lon), "lat": float(lat), "crs": "GCJ-02"}).json()
    assert body["grids"][2]["code"] == an_l3.code


def test_lookup_outside_is_an_answer_not_an_error(http):
    response = http.get("/lookup", params={"lon": 2.35, "lat": 48.85})
    assert response.status_code == 200
    body = response.json()
    assert body["inside"] is False and body["grids"] == [] and "outside" in body["message"]


@pytest.mark.parametrize("params", [{"lon": 200, "lat": 30}, {"lon": 104}, {"lon": 104, "lat": "x"},
                                    {"lon": 104, "lat": 30, "crs": "mars"}])
def test_lookup_bad_input(http, params):
    response = http.get("/lookup", params=params)
    assert response.status_code == 422 and response.json()["where"]


def test_ledger_sums_equal_the_raw_counts(http, db, an_l3):
    l2 = an_l3.parent_code
    body = http.get(f"/grids/{l2}/ledger").json()
    raw = db.execute(text("""
        SELECT count(DISTINCT b.id) AS buildings,
               count(DISTINCT h.id) FILTER (WHERE h.occupancy <> 'vacant') AS households,
               count(r.id) AS residents, count(r.id) FILTER (WHERE r.party_member) AS party
        FROM grids g JOIN buildings b ON ST_Covers(g.geom, b.geom)
        LEFT JOIN households h ON h.building_id = b.id LEFT JOIN residents r ON r.household_id = h.id
        WHERE g.code = :c
    """), {"c": l2}).one()
    assert (body["buildings"], body["households"], body["registered_residents"], body["party_members"]) == tuple(raw)
    tags = db.execute(text("""
        SELECT k.key_group, count(*) FROM grids g JOIN buildings b ON ST_Covers(g.geom, b.geom)
        JOIN households h ON h.building_id = b.id JOIN residents r ON r.household_id = h.id
        JOIN resident_key_groups k ON k.resident_id = r.id WHERE g.code = :c GROUP BY 1
    """), {"c": l2}).all()
    assert {k["code"]: k["people"] for k in body["key_groups"] if k["people"]} == dict(tags)
    assert body["lead"]["role"] == "grid_lead" and body["lead"]["role_label"] == "网格长"
    assert body["load"]["households_band"] == [200, 300]


def test_ledger_of_a_parent_rolls_up_its_children(http, an_l3):
    l2 = an_l3.parent_code
    parent = http.get(f"/grids/{l2}/ledger").json()
    children = http.get("/grids", params={"parent": l2}).json()["features"]
    ledgers = [http.get(f"/grids/{c['properties']['code']}/ledger").json() for c in children]
    for key in ("households", "people", "buildings", "party_members", "shops", "units"):
        assert parent[key] == sum(child[key] for child in ledgers), key


def test_ledger_unknown_and_malformed_codes(http):
    assert http.get("/grids/510107999999/ledger").status_code == 404
    bad = http.get("/grids/12ab/ledger")
    assert bad.status_code == 422 and bad.json()["where"] == "code"


def test_household_diagram_matches_the_building(http, db, an_l3):
    body = http.get(f"/buildings/{an_l3.building}/households").json()
    building = body["building"]
    assert len(body["entrances"]) == building["entrances"]
    for entrance in body["entrances"]:
        assert [f["floor"] for f in entrance["floors"]] == list(range(building["floors"], 0, -1))
        assert all(len(f["flats"]) >= building["flats_per_floor"] for f in entrance["floors"])
    households = db.execute(text(
        "SELECT count(*) FILTER (WHERE occupancy <> 'vacant'), coalesce(sum(member_count), 0)"
        " FROM households WHERE building_id = :b"), {"b": an_l3.building}).one()
    assert (body["totals"]["households"], body["totals"]["people"]) == tuple(households)
    assert http.get("/buildings/999999999/households").status_code == 404


def test_residents_are_masked(http, an_l3):
    body = http.get("/residents", params={"grid": an_l3.code, "limit": 200}).json()
    assert body["numberReturned"] > 0
    for person in body["items"]:
        assert person["id_number"] is None or "********" in person["id_number"]
        assert person["phone"] is None or "****" in person["phone"]
        assert "id_number_enc" not in person


def test_residents_by_tag_and_unknown_tag(http):
    elders = http.get("/residents", params={"tag": "empty_nest_elderly", "limit": 50}).json()
    assert elders["numberMatched"] > 0
    assert all("empty_nest_elderly" in p["key_groups"] for p in elders["items"])
    bad = http.get("/residents", params={"tag": "aliens"})
    assert bad.status_code == 422 and "known" in bad.json()["message"]


def test_units_shops_staff_households_lists(http, an_l3):
    for path in ("/units", "/shops"):
        body = http.get(path, params={"limit": 100}).json()
        assert_rfc7946(body)
        assert body["numberMatched"] > 0
        assert all(len(f["properties"]["grid_codes"]) == 3 for f in body["features"])
    staff = http.get("/staff", params={"grid": an_l3.parent_code}).json()
    assert {m["role"] for m in staff["items"]} >= {"grid_lead", "full_time_worker"}
    assert all(m["grid_code"].startswith(an_l3.parent_code) for m in staff["items"])
    households = http.get("/households", params={"grid": an_l3.code, "limit": 10}).json()
    assert households["numberMatched"] > 0 and len(households["items"]) <= 10
    assert http.get("/staff", params={"role": "boss"}).status_code == 422
    assert http.get("/shops", params={"grid": "510107999999999"}).status_code == 404
