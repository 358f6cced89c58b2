"""The home page is the caller's start: their area, the pages their role opens and no other,
their grids with load (both bands) and lead; every staff page says who is signed in and signs
out; the weekly report opens on a week with cases."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from gisgrid.demo.accounts import PASSWORDS

ROLES = ("admin", "shequ", "wangge", "viewer", "auditor")


@pytest.fixture(scope="module")
def signed(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        return {name: {"Authorization": "Bearer " + client.post("/auth/sign-in", json={
            "username": name, "password": PASSWORDS[name]}).json()["token"]} for name in ROLES}


def links(html: str) -> set[str]:
    return {href.split("?")[0] for href in re.findall(r'href="([^"#]+)"', html)}


# the pages each role's home links to, and the ones it must not
OPENS = {"admin": {"/field", "/map/coverage", "/map/cases", "/map/edit", "/reports/weekly/page"},
         "shequ": {"/field", "/map/coverage", "/map/cases", "/map/edit", "/reports/weekly/page"},
         "wangge": {"/field", "/map/coverage", "/map/cases"},
         "viewer": {"/map/coverage", "/map/cases", "/reports/weekly/page"},
         "auditor": {"/audit"}}
STAFF_PAGES = {"/field", "/map/coverage", "/map/cases", "/map/edit", "/reports/weekly/page", "/audit"}


@pytest.mark.parametrize("role", ROLES)
def test_the_home_page_links_only_the_pages_the_role_opens(server, signed, role):
    with httpx.Client(base_url=server, timeout=30, headers=signed[role]) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert links(home.text) & STAFF_PAGES == OPENS[role]
        assert f"{role}（" in home.text and 'action="/sign-out"' in home.text
        for path in OPENS[role]:  # every link it shows opens for them
            assert client.get(path).status_code == 200, path


def test_signed_out_the_home_page_is_for_residents(server):
    home = httpx.get(f"{server}/")
    assert home.status_code == 200
    assert links(home.text) & STAFF_PAGES == set() and {"/report", "/track", "/sign-in"} <= links(home.text)


def test_a_grid_worker_sees_their_grids_with_both_bands_their_boards_and_diagrams(server, signed, engine):
    with engine.connect() as conn:
        mine = conn.execute(text("""
            SELECT g.code, coalesce(l.households, 0), coalesce(l.people, 0) FROM accounts a
            JOIN grid_assignments ga ON ga.staff_id = a.staff_id JOIN grids g ON g.id = ga.grid_id AND g.level = 2
            LEFT JOIN grid_loads l ON l.grid_id = g.id WHERE a.username = 'wangge' ORDER BY g.code""")).all()
        buildings = conn.execute(text("SELECT b.id FROM buildings b JOIN grids g ON g.id = b.grid_l2_id "
                                      "WHERE g.code = :c"), {"c": mine[0][0]}).scalars().all()
    html = httpx.get(f"{server}/", headers=signed["wangge"]).text
    assert re.findall(r'<tr data-code="(\d+)"', html) == [code for code, _, _ in mine]
    assert "200–300" in html and "1000–1500" in html  # households and people bands both shown
    for code, households, people in mine:
        assert f"/grids/{code}/board" in html
        row = html[html.index(f'<tr data-code="{code}"'):]
        assert f">{households} <small>" in row and f">{people} <small>" in row
    assert {f"/buildings/{b}/diagram" for b in buildings} <= links(html)


def test_a_community_manager_sees_every_grid_of_the_community_with_load_and_lead(server, signed, engine):
    with engine.connect() as conn:
        community = conn.execute(text("SELECT g.code FROM accounts a JOIN grids g ON g.id = a.scope_grid_id "
                                      "WHERE a.username = 'shequ'")).scalar_one()
        grids = conn.execute(text("""
            SELECT g.code, (SELECT s.name FROM grid_assignments x JOIN staff s ON s.id = x.staff_id
                            WHERE x.grid_id = g.id AND x.role = 'grid_lead') FROM grids g
            WHERE g.parent_code = :c AND g.retired_at IS NULL ORDER BY g.code"""), {"c": community}).all()
    html = httpx.get(f"{server}/", headers=signed["shequ"]).text
    assert re.findall(r'<tr data-code="(\d+)"', html) == [code for code, _ in grids]
    for code, lead in grids:
        row = html[html.index(f'<tr data-code="{code}"'):]
        assert (lead or "未配备") in row[:row.index("</tr>")]


def test_an_administrator_goes_from_the_communities_to_one_communitys_grids(server, signed, engine):
    with engine.connect() as conn:
        communities = conn.execute(text("SELECT code FROM grids WHERE level = 1 AND retired_at IS NULL "
                                        "ORDER BY code")).scalars().all()
    with httpx.Client(base_url=server, timeout=30, headers=signed["admin"]) as client:
        html = client.get("/").text
        assert re.findall(r'<tr data-code="(\d+)"', html) == communities
        inner = client.get("/", params={"community": communities[0]}).text
        codes = re.findall(r'<tr data-code="(\d+)"', inner)
        assert codes and all(code.startswith(communities[0]) and len(code) == 15 for code in codes)
    foreign = httpx.get(f"{server}/", params={"community": communities[-1]}, headers=signed["wangge"])
    assert foreign.status_code == 404


@pytest.mark.parametrize("path", ["/map/coverage", "/map/cases", "/reports/weekly/page", "/grids/{grid}/board",
                                  "/buildings/{building}/diagram", "/field", "/field/grids/{grid}",
                                  "/field/buildings/{building}"])
def test_every_staff_page_says_who_is_signed_in_and_signs_out(server, signed, engine, path):
    with engine.connect() as conn:
        grid, building = conn.execute(text("SELECT g.code, b.id FROM buildings b JOIN grids g ON g.id = b.grid_l2_id "
                                           "ORDER BY b.id LIMIT 1")).one()
    page = httpx.get(server + path.format(grid=grid, building=building), headers=signed["admin"])
    assert page.status_code == 200
    assert 'id="gg-who">admin（街道管理员）' in page.text and 'action="/sign-out"' in page.text


def test_the_sign_out_button_ends_the_session(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.goto(f"{server}/sign-in")
    page.fill("input[name=username]", "shequ")
    page.fill("input[name=password]", PASSWORDS["shequ"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert "shequ（社区管理员）" in page.inner_text("#gg-who")
    page.click("#gg-sign-out")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.goto(f"{server}/map/coverage")
    assert "/sign-in" in page.url  # the session is over: the map sends them to sign in
    context.close()


def test_the_weekly_page_opens_on_the_latest_week_with_cases(server, signed, engine):
    page = httpx.get(f"{server}/reports/weekly/page", headers=signed["admin"]).text
    shown = re.search(r'type="week" name="week" value="(\d{4}-W\d{2})"', page).group(1)
    with engine.connect() as conn:
        year, week = conn.execute(text("SELECT extract(isoyear FROM max(reported_at) AT TIME ZONE 'Asia/Shanghai'), "
                                       "extract(week FROM max(reported_at) AT TIME ZONE 'Asia/Shanghai') "
                                       "FROM cases")).one()
    assert shown == f"{int(year)}-W{int(week):02d}"
    assert 'id="gg-skipped"' in page  # and it says the last week had none
    as_json = httpx.get(f"{server}/reports/weekly", headers=signed["admin"]).json()
    assert as_json["week"] != shown and as_json["total"]["new"] == 0  # the API keeps its plain default


@pytest.mark.parametrize("level, households, people", [(1, "1500–4500", "3000–15000"), (2, "200–300", "1000–1500"),
                                                        (3, "30–150", "60–500")])
def test_every_grid_layer_shows_load_against_both_bands(http, level, households, people):
    feature = http.get(f"/layers/grids_l{level}/items", params={"limit": 1}).json()["features"][0]["properties"]
    assert (feature["band"], feature["people_band"]) == (households, people)
