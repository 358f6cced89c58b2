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
            "resident_id": "1", "key_id": "1", "tracking_code": "ABCDEFGHJK"}
    checked = 0
    with httpx.Client(base_url=str(http.base_url), timeout=60) as anonymous:
        for method, path, need in _routes(create_app(engine)):
            if need is None:
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], path)
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
