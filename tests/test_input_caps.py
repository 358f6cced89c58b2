"""The caps on what one request may ask for, over every route that takes the input: a page
(``GISGRID_MAX_PAGE_SIZE``), a bbox (``GISGRID_MAX_BBOX_DEGREES``, and one inverted or out of
range), and the vertices of a drawn geometry (``GISGRID_MAX_GRID_VERTICES``: grid create, reshape,
transfer, split by line or parts, layer import). Each refusal is 422 naming the cap and where.

The routes are read off the app (every one that takes the paging or bbox parameters), so a new
list cannot slip past. The servers run in this process: a cap lowered with monkeypatch holds for
them at once. The body cap (413) is in test_security_headers.py; a case's location is one point,
checked for range in test_case_http.py.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from gisgrid.core.geojson import bbox_param
from gisgrid.core.paging import page_params
from gisgrid.core.settings import get_settings
from gisgrid.web.errors import api_routes, dependency_calls

from builders import Town


def _routes_taking(engine, dependency) -> list[str]:
    from gisgrid.web.app import create_app

    return sorted(route.path for route in api_routes(create_app(engine).routes)
                  if dependency in set(dependency_calls(route.dependant)) and "GET" in route.methods)


@pytest.fixture(scope="module")
def fill(engine, demo) -> dict:
    with engine.connect() as conn:
        code = conn.execute(text("SELECT code FROM grids WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
    return {"code": code, "name": "grids_l2"}


@pytest.fixture(scope="module")
def auditor(server) -> dict:
    """The audit log is the auditors' alone: its list is read as one."""
    import httpx

    from gisgrid.demo.accounts import PASSWORDS

    token = httpx.post(f"{server}/auth/sign-in", json={"username": "auditor", "password": PASSWORDS["auditor"]},
                       timeout=30).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_every_list_is_capped_at_the_page_size(http, engine, fill, auditor, monkeypatch):
    paths = _routes_taking(engine, page_params)
    assert {"/grids", "/buildings", "/residents", "/households", "/cases", "/layers/{name}/items", "/audit"} <= set(paths)
    monkeypatch.setattr(get_settings(), "max_page_size", 7)
    for path in paths:
        url = path.format(**fill)
        who = auditor if path == "/audit" else {}
        over = http.get(url, params={"limit": 8}, headers=who)
        assert over.status_code == 422, (path, over.text)
        assert over.json()["where"] == "limit" and "page cap of 7" in over.json()["message"], path
        at_cap = http.get(url, params={"limit": 7}, headers=who)
        assert at_cap.status_code == 200, (path, at_cap.text)
        far = http.get(url, params={"offset": 2**31}, headers=who)
        assert far.status_code == 422, path
        if at_cap.headers["content-type"].startswith("text/html"):  # a page (/admin/teams): its rows in its table
            assert at_cap.text.count("<tr") <= 7 + 1, path
            continue
        body = at_cap.json()
        assert len(body.get("features", body.get("items", []))) <= 7, path
        assert far.json()["where"] == "query.offset", path


BOXES = {
    "too large": ("100,20,110,30", "more than the cap of 5°"),
    "too tall": ("104,20,104.1,31", "11° tall"),
    "inverted": ("104.06,30.63,104.03,30.65", "west ≤ east"),
    "upside down": ("104.03,30.65,104.06,30.63", "south ≤ north"),
    "out of range": ("104,30,190,31", "out of range ±180"),
    "lat out of range": ("104,-91,104.1,30", "out of range ±90"),
    "not four numbers": ("104,30,105", "4 numbers"),
    "not numbers": ("104,30,east,31", "not a number"),
    "infinite": ("104,30,inf,31", "finite"),
}


def test_every_bbox_list_refuses_a_bad_or_too_large_bbox(http, engine, fill):
    paths = _routes_taking(engine, bbox_param)
    assert {"/grids", "/buildings", "/units", "/shops", "/cases", "/cases/density",
            "/layers/{name}/items"} <= set(paths)
    for path in paths:
        url = path.format(**fill)
        for case, (bbox, message) in BOXES.items():
            answer = http.get(url, params={"bbox": bbox})
            assert answer.status_code == 422, (path, case, answer.text)
            assert answer.json()["where"] == "bbox" and message in answer.json()["message"], (path, case, answer.text)
        assert http.get(url, params={"bbox": "104.03,30.63,104.06,30.65"}).status_code == 200, path


def test_the_bbox_cap_is_a_setting(http, monkeypatch):
    monkeypatch.setattr(get_settings(), "max_bbox_degrees", 0.01)
    answer = http.get("/buildings", params={"bbox": "104.03,30.63,104.06,30.65"})
    assert answer.status_code == 422 and "0.01°" in answer.json()["message"]


@pytest.fixture
def town(scratch_engine):
    return Town(scratch_engine)


def _jagged(town, x0: float, x1: float, teeth: int) -> dict:
    """A box with ``teeth`` extra vertices along its south side."""
    box = town.geo(x0, 0, x1, 200)
    (sw, se, ne, nw, _), step = box["coordinates"][0][:5], None
    step = (se[0] - sw[0]) / (teeth + 1)
    south = [[sw[0] + step * (i + 1), sw[1]] for i in range(teeth)]
    return {"type": "Polygon", "coordinates": [[sw, *south, se, ne, nw, sw]]}


def test_every_drawn_geometry_is_capped_in_vertices(scratch_http, scratch_engine, town, monkeypatch, tmp_path):
    """Dry runs: a broken cap would show as a preview, never as a change."""
    monkeypatch.setattr(get_settings(), "max_grid_vertices", 8)
    big, small = _jagged(town, 0, 150, 10), _jagged(town, 0, 150, 0)
    line = {"type": "LineString", "coordinates": [big["coordinates"][0][i] for i in range(1, 11)]}
    v1 = {"If-Match": '"v1"'}
    sent = {
        "create": ("/grids", {"parent": town.l1, "name": "新网格", "reason": "r", "geometry": big}, {}, "geometry"),
        "reshape": (f"/grids/{town.west}/reshape", {"reason": "r", "geometry": big}, v1, "geometry"),
        "transfer": (f"/grids/{town.west}/transfer", {"reason": "r", "to": town.east, "area": big,
                                                      "versions": {town.east: 1}}, v1, "area"),
        "split by line": (f"/grids/{town.west}/split", {"reason": "r", "line": line}, v1, "line"),
        "split into parts": (f"/grids/{town.west}/split", {"reason": "r", "parts": [
            {"geometry": small}, {"geometry": big}]}, v1, "parts[1].geometry"),
    }
    for case, (path, body, headers, where) in sent.items():
        answer = scratch_http.post(path, params={"dry_run": True}, json=body, headers=headers)
        assert answer.status_code == 422, (case, answer.text)
        assert answer.json()["where"] == where and "more than the cap of 8" in answer.json()["message"], \
            (case, answer.text)
    layer = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": town.west, "name": "西网格"}, "geometry": big}]}
    answer = scratch_http.post("/grids/import", params={"dry_run": True}, data={"reason": "r"},
                               files={"file": ("grids.geojson", json.dumps(layer).encode(), "application/geo+json")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["where"] == "features[0].geometry" and "more than the cap of 8" in answer.json()["message"]
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
                                 "WHERE g.subdistrict_code = :sd AND v.version > 1"), {"sd": town.sd}).scalar() == 0


def test_a_geometry_at_the_cap_is_taken(scratch_http, town, monkeypatch):
    monkeypatch.setattr(get_settings(), "max_grid_vertices", 8)
    answer = scratch_http.post(f"/grids/{town.west}/reshape", params={"dry_run": True}, headers={"If-Match": '"v1"'},
                               json={"reason": "r", "geometry": _jagged(town, 0, 150, 3)})  # 4 + 3 + closing
    assert answer.status_code == 200, answer.text
