"""Who may do what, generated over every route of the app and every role of the demo, and where:
a grid worker sees their own grids' people and nobody else's, a community manager their
community's; an object outside the caller's scope is 404, a function outside their role 403,
and no caller at all 401."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from gisgrid.auth.access import CAN
from gisgrid.core.enums import Role
from gisgrid.demo.accounts import PASSWORDS

ROLES = {"admin": Role.ADMIN, "shequ": Role.COMMUNITY_MANAGER, "wangge": Role.GRID_WORKER, "viewer": Role.VIEWER,
         "auditor": Role.AUDITOR}


@pytest.fixture(scope="module")
def tokens(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        return {name: {"Authorization": "Bearer " + client.post("/auth/sign-in", json={
            "username": name, "password": PASSWORDS[name]}).json()["token"]} for name in ROLES}


@pytest.fixture(scope="module")
def places(engine, demo):
    """The worker's own grid, another grid of the same community, and a grid of another community,
    each with a building."""
    with engine.connect() as conn:
        own = conn.execute(text("""SELECT g.code, g.id FROM accounts a JOIN grid_assignments s ON s.staff_id = a.staff_id
                                   JOIN grids g ON g.id = s.grid_id AND g.level = 2 WHERE a.username = 'wangge'
                                   ORDER BY g.code LIMIT 1""")).one()
        community = own.code[:12]
        sibling = conn.execute(text("SELECT code, id FROM grids WHERE parent_code = :c AND code <> :o AND level = 2 "
                                    "ORDER BY code LIMIT 1"), {"c": community, "o": own.code}).one()
        stranger = conn.execute(text("SELECT code, id FROM grids WHERE level = 2 AND NOT starts_with(code, :c) "
                                     "ORDER BY code LIMIT 1"), {"c": community}).one()
        building = {name: conn.execute(text("SELECT id FROM buildings WHERE grid_l2_id = :g ORDER BY id LIMIT 1"),
                                       {"g": grid.id}).scalar_one()
                    for name, grid in (("own", own), ("sibling", sibling), ("stranger", stranger))}
    return {"own": own.code, "sibling": sibling.code, "stranger": stranger.code, "community": community,
            "building": building}


# what each role gets for an object in each place (people functions)
SEES = {"admin": {"own", "sibling", "stranger"}, "shequ": {"own", "sibling"}, "wangge": {"own"},
        "viewer": set(), "auditor": set()}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("place", ["own", "sibling", "stranger"])
def test_people_objects_by_role_and_place(http, tokens, places, role, place):
    grid, building = places[place], places["building"][place]
    expected = 200 if place in SEES[role] else (404 if "people" in CAN[ROLES[role]] else 403)
    for path in (f"/grids/{grid}/ledger", f"/buildings/{building}/households", f"/buildings/{building}/diagram",
                 f"/households?building={building}"):
        answer = http.get(path, headers=tokens[role])
        assert answer.status_code == expected, (role, place, path, answer.text[:200])


@pytest.mark.parametrize("role", ["admin", "shequ", "wangge"])
def test_lists_of_people_hold_no_foreign_row(http, tokens, places, role, db):
    residents = http.get("/residents?limit=5000", headers=tokens[role]).json()["items"]
    households = http.get("/households?limit=5000", headers=tokens[role]).json()["items"]
    assert residents and households
    grids = dict(db.execute(text("""SELECT r.id, g.code FROM residents r JOIN households h ON h.id = r.household_id
                                    JOIN buildings b ON b.id = h.building_id JOIN grids g ON g.id = b.grid_l2_id""")).all())
    codes = {grids.get(r["id"]) for r in residents}
    allowed = {"admin": lambda c: True, "shequ": lambda c: c and c.startswith(places["community"]),
               "wangge": lambda c: c == places["own"]}[role]
    assert all(allowed(c) for c in codes), (role, sorted(c for c in codes if not allowed(c))[:5])
    if role == "wangge":
        assert codes == {places["own"]}
    if role == "shequ":
        assert {places["own"], places["sibling"]} <= codes
    filtered = http.get(f"/residents?grid={places['stranger']}", headers=tokens[role]).json()
    assert (filtered["numberMatched"] > 0) == (role == "admin")


def _routes(app):
    """(method, path, function) for every operation, the function read off its dependencies."""
    from fastapi.routing import APIRoute

    def flat(routes):
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI keeps included routers whole
            yield from flat(inner.routes) if inner is not None else [route]

    out = []
    for route in flat(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        needs = {d.call.__name__.removeprefix("needs_").removesuffix("_async") for d in route.dependant.dependencies
                 if getattr(d.call, "__name__", "").startswith("needs_")}
        needs |= {d.call.__name__.removeprefix("needs_").removesuffix("_async") for dep in route.dependant.dependencies
                  for d in dep.dependencies if getattr(d.call, "__name__", "").startswith("needs_")}
        for method in route.methods - {"HEAD"}:
            out.append((method, route.path, next(iter(needs), None)))
    return out


PUBLIC = re.compile(r"^/(health|auth/|public/|case-categories$|report$|track$)")


def test_every_route_declares_what_it_needs(engine):
    from gisgrid.web.app import create_app

    undeclared = [(m, p) for m, p, need in _routes(create_app(engine)) if need is None and not PUBLIC.match(p)
                  and not p.startswith("/residents/")]
    assert undeclared == []


def test_the_function_matrix_over_every_route_and_role(http, tokens, places, engine, db):
    """Each route × each role: a role without the route's function gets 403, any other role does
    not (its answer then depends on the input: 200, 404, 422 …), and nobody signed in gets 401."""
    from gisgrid.web.app import create_app

    case_no = db.execute(text("SELECT case_no FROM cases ORDER BY id LIMIT 1")).scalar_one()
    fill = {"code": places["own"], "building_id": str(places["building"]["own"]), "case_no": case_no,
            "name": "grids_l2", "z": "14", "x": "12925", "y": "6720", "attachment_id": "1", "course_id": "1",
            "resident_id": "1", "key_id": "1", "tracking_code": "ABCDEFGHJK",
            "subdistrict": places["own"][:9], "kind": "buildings",
            "username": "viewer", "record_id": "1", "staff_id": "1", "assignment_id": "1", "household_id": "1"}
    checked = 0
    with httpx.Client(base_url=str(http.base_url), timeout=60) as anonymous:
        for method, path, need in _routes(create_app(engine)):
            if need is None:
                continue
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: fill[m.group(1)], path)
            params = {"week": "2026-W43"} if "weekly" in path else {"from": "2026-10-01", "to": "2026-10-31"} \
                if "assessment" in path else {}
            assert anonymous.request(method, url, params=params, json={}).status_code == 401, (method, path)
            for role, headers in tokens.items():
                if method != "GET" and role == "admin":
                    continue  # the administrator's changes are exercised by the domain tests
                status = http.request(method, url, params=params, json={}, headers=headers).status_code
                if need in CAN[ROLES[role]]:
                    assert status not in (401, 403), (role, method, path, status)
                else:
                    assert status == 403, (role, method, path, status)
                checked += 1
    assert checked > 150


@pytest.mark.parametrize("role", ["admin", "shequ", "wangge"])
def test_cases_are_scoped_like_people(http, tokens, places, role, db):
    items = http.get("/cases?limit=5000", headers=tokens[role]).json()["items"]
    assert items
    allowed = {"admin": lambda c: True, "shequ": lambda c: (c or "").startswith(places["community"]),
               "wangge": lambda c: c == places["own"]}[role]
    assert all(allowed(i["grid_code"]) for i in items)
    stranger = db.execute(text("SELECT c.case_no FROM cases c JOIN grids g ON g.id = c.grid_l2_id WHERE g.code = :g "
                               "ORDER BY c.id LIMIT 1"), {"g": places["stranger"]}).scalar_one()
    expected = 200 if role == "admin" else 404
    assert http.get(f"/cases/{stranger}", headers=tokens[role]).status_code == expected
    moved = http.post(f"/cases/{stranger}/escalate", json={"note": "看看"}, headers=tokens[role]).status_code
    assert moved == (409 if role == "admin" else 404)  # a closed case cannot be escalated; a foreign one is not there


# Where each role sees objects: an administrator or viewer their whole sub-district, a community
# manager their community, a grid worker their own grid.
SEES_PLACE = {"admin": {"own", "sibling", "stranger"}, "viewer": {"own", "sibling", "stranger"},
              "shequ": {"own", "sibling"}, "wangge": {"own"}, "auditor": set()}
OBJECT_PARAMS = {"code", "building_id", "case_no"}


@pytest.fixture(scope="module")
def objects(engine, places):
    """For each place, the objects a path can name: its L2 grid code, a building, a case."""
    out = {}
    with engine.connect() as conn:
        for place in ("own", "sibling", "stranger"):
            case_no = conn.execute(text("SELECT c.case_no FROM cases c JOIN grids g ON g.id = c.grid_l2_id "
                                        "WHERE g.code = :g ORDER BY c.id LIMIT 1"), {"g": places[place]}).scalar_one()
            out[place] = {"code": places[place], "building_id": str(places["building"][place]), "case_no": case_no}
    return out


def test_the_scope_matrix_over_every_object_route(http, tokens, objects, engine):
    """Every GET route naming an object (a grid, a building, a case) × every role × {own grid,
    another grid of the same community, a grid of another community}: exactly 200 where the role
    sees the place, 404 where it does not (as if it did not exist), 403 without the function."""
    from gisgrid.web.app import create_app

    checked = set()
    for method, path, need in _routes(create_app(engine)):
        names = set(re.findall(r"\{(\w+)\}", path))
        if method != "GET" or need is None or not names or not names <= OBJECT_PARAMS:
            continue
        for place, fill in objects.items():
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, fill=fill: fill[m.group(1)], path)
            for role, headers in tokens.items():
                status = http.get(url, headers=headers).status_code
                expected = 403 if need not in CAN[ROLES[role]] else 200 if place in SEES_PLACE[role] else 404
                assert status == expected, (role, place, url, status)
        checked.add(path)
    assert {"/grids/{code}", "/grids/{code}/ledger", "/grids/{code}/board", "/grids/{code}/history",
            "/buildings/{building_id}/households", "/buildings/{building_id}/diagram", "/cases/{case_no}"} <= checked


def _foreign(places: dict, role: str) -> list[str]:
    """Grid codes whose rows the role must never be shown."""
    return {"shequ": [places["stranger"]], "wangge": [places["sibling"], places["stranger"]]}[role]


LIST_PARAMS = {"/reports/weekly": {"week": "2026-W43"}, "/reports/weekly/page": {"week": "2026-W43"},
               "/reports/assessment": {"from": "2026-10-01", "to": "2026-10-31"},
               "/lookup": {"lon": "0", "lat": "0"}}


@pytest.mark.parametrize("role", ["shequ", "wangge"])
def test_no_list_page_or_export_shows_a_foreign_row(http, tokens, places, engine, role):
    """Every GET route without an object in its path (lists, searches, bbox queries, map pages,
    exports), read by a community manager and by a grid worker: no grid code outside their scope
    appears anywhere in the answer. The administrator's answers hold them (the check can fail)."""
    from gisgrid.web.app import create_app

    read = 0
    for method, path, need in _routes(create_app(engine)):
        if method != "GET" or need is None or "{" in path or need not in CAN[ROLES[role]]:
            continue
        params = {**LIST_PARAMS.get(path, {}), "limit": "5000",
                  **({"grid": places["own"]} if path.startswith("/ledger") else {})}
        answer = http.get(path, params=params, headers=tokens[role])
        if answer.status_code == 422 and "limit" in answer.text:
            params.pop("limit")
            answer = http.get(path, params=params, headers=tokens[role])
        assert answer.status_code == 200, (role, path, answer.text[:200])
        for code in _foreign(places, role):
            assert code not in answer.text, (role, path, code)
        read += 1
    assert read >= 8
    for path in ("/grids", "/buildings", "/cases", "/map/coverage"):
        assert places["stranger"] in http.get(path, params={"limit": "5000"}, headers=tokens["admin"]).text, path


def _tile(engine, building_id: int, z: int = 16) -> tuple[int, int, int]:
    import math

    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE id = :b"),
                                {"b": building_id}).one()
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.mark.parametrize("role", ["admin", "shequ", "wangge"])
@pytest.mark.parametrize("place", ["own", "sibling", "stranger"])
def test_tiles_and_items_hold_only_the_callers_rows(http, tokens, places, engine, role, place):
    """The buildings and grids of a tile over each place, and the GeoJSON items of its box: the
    place's building and grid are there exactly when the role sees the place; a second read (a
    cache hit, cached per scope) says the same."""
    import mapbox_vector_tile

    building = places["building"][place]
    z, x, y = _tile(engine, building)
    sees = place in SEES_PLACE[role]
    for _ in range(2):
        content = http.get(f"/layers/buildings/tiles/{z}/{x}/{y}.mvt", headers=tokens[role]).content
        ids = {f["properties"]["id"] for f in mapbox_vector_tile.decode(content).get("buildings", {"features": []})["features"]}
        assert (building in ids) == sees, (role, place)
        content = http.get(f"/layers/grids_l2/tiles/{z}/{x}/{y}.mvt", headers=tokens[role]).content
        codes = {f["properties"]["code"] for f in mapbox_vector_tile.decode(content).get("grids_l2", {"features": []})["features"]}
        assert (places[place] in codes) == sees, (role, place, codes)
    with engine.connect() as conn:
        box = conn.execute(text("SELECT ST_XMin(g.geom), ST_YMin(g.geom), ST_XMax(g.geom), ST_YMax(g.geom) FROM grids g "
                                "WHERE g.code = :c"), {"c": places[place]}).one()
    items = http.get("/layers/buildings/items", params={"bbox": ",".join(map(str, box)), "limit": "1000"},
                     headers=tokens[role]).json()["features"]
    assert (building in {f["id"] for f in items}) == sees
    point = http.get("/lookup", params={"lon": box[0] / 2 + box[2] / 2, "lat": box[1] / 2 + box[3] / 2},
                     headers=tokens[role]).json()
    assert (places[place] in {g["code"] for g in point["grids"]}) == sees


def test_a_layer_hidden_from_a_role_is_refused(http, tokens):
    listed = {layer["name"] for layer in http.get("/layers", headers=tokens["viewer"]).json()["layers"]}
    assert "buildings" in listed
    assert http.get("/layers/buildings/tilejson.json", headers=tokens["auditor"]).status_code == 403


def test_edits_reach_no_grid_outside_the_editors_area(http, tokens, places):
    """A community manager may edit their community's grids, not another's: a grid elsewhere is 404."""
    stranger = http.post(f"/grids/{places['stranger']}/reshape?dry_run=true", headers=tokens["shequ"],
                         json={"reason": "越界", "geometry": {"type": "Point", "coordinates": [0, 0]}})
    assert stranger.status_code == 404
    own = http.get(f"/grids/{places['own']}", headers=tokens["shequ"])
    assert own.status_code == 200
    shape = own.json()["geometry"]
    ok = http.post(f"/grids/{places['own']}/reshape?dry_run=true", headers=tokens["shequ"],
                   json={"reason": "核对", "geometry": shape, "mode": "fit"})
    assert ok.status_code == 200, ok.text


def test_a_refused_page_is_a_page(http, tokens, places):
    """A browser asking for a page its role may not see, or a grid outside its scope, gets the
    message as a page (the API still answers JSON)."""
    browser = {**tokens["wangge"], "Accept": "text/html,application/xhtml+xml"}
    refused = http.get("/reports/weekly/page", headers=browser)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "无此权限" in refused.text and "grid_worker" in refused.text
    missing = http.get(f"/grids/{places['stranger']}/board", headers=browser)
    assert missing.status_code == 404 and "没有找到" in missing.text
    assert http.get("/reports/weekly", headers=tokens["wangge"]).json()["error"] == "forbidden"
