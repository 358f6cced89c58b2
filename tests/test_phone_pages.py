"""Every map page on a phone (390×844) in a real headless Chromium: the map opens framed on the
page's area (the visible bounds hold it, not a 10 m view of nothing), the panel's buttons can be
pressed (nothing lies over them), and an unreachable basemap falls back to the blank one without
a console error."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from gisgrid.demo.accounts import PASSWORDS

FRAME = """(area) => { const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
    const view = map.getBounds();
    return {holds: view.contains(L.latLngBounds(area)), zoom: map.getZoom(),
            size: [map.getSize().x, map.getSize().y],
            tiles: (() => { let url = null; map.eachLayer(l => { if (l instanceof L.TileLayer) url = l._url; });
                            return url; })()}; }"""
PRESSABLE = """(selector) => { const el = document.querySelector(selector); el.scrollIntoView({block: 'center', behavior: 'instant'});
    const box = el.getBoundingClientRect(); const hit = document.elementFromPoint(box.x + box.width / 2,
    box.y + box.height / 2); return box.width > 0 && (hit === el || el.contains(hit)); }"""

PAGES = {"/map/coverage": ["a.gg-defect", "#gg-summary a"], "/map/cases": ["select[name=mode]", "input[name=size]"],
         "/map/edit": ["#gg-draw", "#gg-preview", "#gg-save"], "/report": ["#gg-submit", "select[name=category]"]}


def area(engine, where: str = "") -> list[list[float]]:
    """[[south, west], [north, east]] of the sub-district, or of the grids ``where`` picks."""
    sql = ("SELECT ST_YMin(box), ST_XMin(box), ST_YMax(box), ST_XMax(box) FROM (SELECT ST_Extent(boundary) box "
           "FROM (SELECT boundary FROM subdistricts ORDER BY code LIMIT 1) s) x") if not where else f"""
           SELECT ST_YMin(box), ST_XMin(box), ST_YMax(box), ST_XMax(box) FROM (
             SELECT ST_Extent(g.geom) AS box FROM grids g WHERE {where}) x"""
    with engine.connect() as conn:
        s, w, n, e = conn.execute(text(sql)).one()
    return [[s, w], [n, e]]


@pytest.mark.parametrize("path", list(PAGES))
def test_a_map_page_on_a_phone_is_framed_on_its_area_and_its_buttons_press(server, phone, path, engine, demo):
    page = phone.page
    page.goto(f"{server}{path}", wait_until="networkidle")
    frame = page.evaluate(FRAME, area(engine))
    assert frame["holds"], frame
    assert 11 <= frame["zoom"] <= 17, frame   # the whole area, and not a view of the whole country
    assert frame["size"][0] == 390 and frame["size"][1] >= 300
    for selector in PAGES[path]:
        assert page.evaluate(PRESSABLE, selector), (path, selector)
    phone.shot("phone" + path.replace("/", "-"))
    phone.clean()


OWN_AREA = {"wangge": "g.level = 2 AND g.id IN (SELECT ga.grid_id FROM accounts a JOIN grid_assignments ga "
                      "ON ga.staff_id = a.staff_id WHERE a.username = 'wangge')",
            "shequ": "g.id = (SELECT scope_grid_id FROM accounts WHERE username = 'shequ')"}


@pytest.mark.parametrize("username, path", [(u, p) for u in OWN_AREA for p in ("/map/coverage", "/map/cases")]
                         + [("shequ", "/map/edit")])
def test_a_signed_in_map_opens_on_the_callers_own_area(server, phone, engine, demo, username, path):
    with httpx.Client(base_url=server) as client:
        token = client.post("/auth/sign-in", json={"username": username, "password": PASSWORDS[username]}).json()
    page = phone.page
    page.set_extra_http_headers({"Authorization": f"Bearer {token['token']}"})
    page.goto(f"{server}{path}", wait_until="networkidle")
    frame = page.evaluate(FRAME, area(engine, OWN_AREA[username]))
    assert frame["holds"] and frame["zoom"] <= 18, frame
    assert not page.evaluate(FRAME, area(engine))["holds"]  # their own area, not the whole sub-district
    phone.shot(f"phone-{username}{path.replace('/', '-')}")
    phone.clean()


def test_an_unreachable_basemap_falls_back_to_the_blank_one_quietly(server, phone, watched, monkeypatch, engine,
                                                                     demo):
    from gisgrid.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "basemap_url", "http://127.0.0.1:9/{z}/{x}/{y}.png")  # nothing listens
    for view in (phone, watched):
        view.page.goto(f"{server}/map/cases", wait_until="networkidle")
        assert view.page.evaluate(FRAME, area(engine))["tiles"] == "/basemap/blank/{z}/{x}/{y}.png"
        assert view.page.locator("img.leaflet-tile-loaded").count() > 0
        view.clean()  # not one console error


def test_a_basemap_that_answers_is_the_one_drawn(server, watched, monkeypatch, engine, demo):
    from gisgrid.core.settings import get_settings

    own = f"{server}/basemap/blank/{{z}}/{{x}}/{{y}}.png"  # an absolute URL on a host that answers
    monkeypatch.setattr(get_settings(), "basemap_url", own)
    watched.page.goto(f"{server}/map/coverage", wait_until="networkidle")
    assert watched.page.evaluate(FRAME, area(engine))["tiles"] == own
    watched.clean()


def test_the_notice_board_and_the_building_diagram_fit_a_phone(server, phone, engine, demo):
    """At the phone's own width, not a desktop page shrunk: nothing wider than the screen."""
    with engine.connect() as conn:
        grid = conn.execute(text("SELECT code FROM grids WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
        building = conn.execute(text("""SELECT building_id FROM households GROUP BY building_id
                                        ORDER BY count(*) DESC, building_id LIMIT 1""")).scalar_one()
    page = phone.page
    for path in (f"/grids/{grid}/board", f"/buildings/{building}/diagram"):
        page.goto(f"{server}{path}", wait_until="networkidle")
        width = page.evaluate("[window.innerWidth, document.documentElement.scrollWidth]")
        assert width == [390, 390], (path, width)
        assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('td')).fontSize)") >= 14
        phone.shot("phone-" + path.strip("/").split("/")[-1])
    phone.clean()
