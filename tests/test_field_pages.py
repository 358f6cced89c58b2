"""The grid worker's pages (/field) in a real headless Chromium, on a phone (390×844) and on a
desktop (1400×900), on a committed town of their own: a worker signs in, opens their grid (the
map framed on it), records a family moving out and a newborn, sees a stale save explained, logs
a visit, and the week's changes and the ledger show it; another grid's page does not exist for
them. Screenshots go to test-artifacts/field-*.png."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import AUTH, Watched
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role
from gisgrid.registry.idnumbers import check_character

from builders import Town

PASSWORD = "Field-Pages-2026!"
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
    "desktop": {"viewport": {"width": 1400, "height": 900}},
}
# the map's view against the grid's box: does it hold the grid, at what zoom, how wide in metres
FRAME = """(box) => { const map = window.ggFieldMap, view = map.getBounds();
    return {holds: view.contains(L.latLngBounds(box)), zoom: map.getZoom(),
            metres: map.distance(view.getNorthWest(), view.getNorthEast()), width: map.getSize().x}; }"""


def _staff_of(db, grid: str) -> int:
    return db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                           "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": grid}).scalar_one()


@pytest.fixture
def town(scratch_engine):
    """A town of its own per test, with its west grid's lead as a grid worker and a manager of its zone."""
    town = Town(scratch_engine)
    with Session(scratch_engine) as db:
        create_account(db, username=f"field{town.sd}", display_name="网格员", role=Role.GRID_WORKER,
                       password=PASSWORD, subdistrict=town.sd, staff_id=_staff_of(db, town.west))
        create_account(db, username=f"zone{town.sd}", display_name="社区管理员", role=Role.COMMUNITY_MANAGER,
                       password=PASSWORD, subdistrict=town.sd, scope_grid=town.l1)
        db.commit()
    return town


def _token(server: str, username: str) -> dict:
    answer = httpx.post(f"{server}/auth/sign-in", json={"username": username, "password": PASSWORD}, timeout=30)
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _box(engine, code: str) -> list[list[float]]:
    with engine.connect() as conn:
        s, w, n, e = conn.execute(text("SELECT ST_YMin(geom), ST_XMin(geom), ST_YMax(geom), ST_XMax(geom) FROM grids "
                                       "WHERE code = :c"), {"c": code}).one()
    return [[s, w], [n, e]]


def _submit(page, form: str) -> None:
    """Open a form's box and press its save button."""
    page.locator(f"#{form}").evaluate("f => f.closest('details').open = true")
    page.locator(f"#{form} button[type=submit]").click()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_grid_worker_keeps_their_grid_current(browser, scratch_server, scratch_engine, town, size):
    context = browser.new_context(locale="zh-CN", bypass_csp=True, **VIEWPORTS[size])
    view = Watched(context.new_page())
    page, server = view.page, scratch_server

    page.goto(f"{server}/field")  # signed out: to the sign-in page, and back
    page.wait_for_url(re.compile(r"/sign-in"))
    page.fill("input[name=username]", f"field{town.sd}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/field")
    assert page.locator("#gg-grids li").evaluate_all("els => els.map(e => e.dataset.code)") == [town.west]
    view.shot(f"field-{size}-grids")

    page.click(f"#gg-grids a[href^='/field/grids/{town.west}?']")
    page.wait_for_load_state("networkidle")
    frame = page.evaluate(FRAME, _box(scratch_engine, town.west))
    assert frame["holds"], frame                      # the whole grid (200 m square) is in view …
    assert 200 <= frame["metres"] <= 5000, frame      # … not a 10 m view of nothing, nor the whole city
    assert 300 <= frame["width"] <= VIEWPORTS[size]["viewport"]["width"], frame  # the map spans the screen's width
    assert page.locator("#gg-map .leaflet-overlay-pane path").count() == 2  # the grid's outline and its building
    view.shot(f"field-{size}-grid")

    page.click(f"#gg-buildings a[href^='/field/buildings/{town.west_building}?']")
    page.wait_for_load_state("networkidle")
    flats = page.locator("a.gg-flat")
    assert flats.count() == 10
    # a flat that holds a household already: the API's refusal stands next to the room
    page.locator("#gg-add-household-box").evaluate("d => d.open = true")
    page.fill("#gg-add-household input[name=floor]", "1")
    page.fill("#gg-add-household input[name=room]", "101")
    page.fill("#gg-add-household input[name=reason]", "核对登记")
    _submit(page, "gg-add-household")
    refusal = page.locator("#gg-add-household label:has(input[name=room]) .gg-error")
    refusal.wait_for()
    assert "已有住户" in refusal.inner_text()
    view.shot(f"field-{size}-building")

    # a family moves out: the household ends, its flat is vacant
    leaving = flats.first.get_attribute("data-household")
    flats.first.click()
    page.wait_for_url(re.compile(rf"/field/households/{leaving}\b"))
    page.locator("#gg-end-household-box").evaluate("d => d.open = true")
    page.fill("#gg-end-household input[name=reason]", "全家迁往外地")
    _submit(page, "gg-end-household")
    page.wait_for_url(re.compile(rf"/field/buildings/{town.west_building}\b"))
    assert page.locator(f"a.gg-flat[data-household='{leaving}']").count() == 0
    assert page.locator("a.gg-flat").count() == 9

    # a newborn: a wrong ID number is refused on the page, then the baby is registered without one
    staying = page.locator("a.gg-flat").first.get_attribute("data-household")
    page.locator("a.gg-flat").first.click()
    page.wait_for_url(re.compile(rf"/field/households/{staying}\b"))
    form = "#gg-add-resident"
    page.locator(f"{form}").evaluate("f => f.closest('details').open = true")
    page.fill(f"{form} input[name=name]", "王小宝")
    page.fill(f"{form} input[name=relation]", "子女")
    body = "11010520250101001"
    wrong = "0" if check_character(body) != "0" else "1"
    page.fill(f"{form} input[name=id_number]", body + wrong)  # its check digit is wrong
    page.fill(f"{form} input[name=reason]", "新生儿 / newborn")
    _submit(page, "gg-add-resident")
    assert "校验位" in page.locator(f"{form} label:has(input[name=id_number]) .gg-error").inner_text()
    page.fill(f"{form} input[name=id_number]", "")
    page.select_option(f"{form} select[name=sex]", "M")
    page.fill(f"{form} input[name=birth_year]", "2025")
    with page.expect_navigation():
        _submit(page, "gg-add-resident")
    assert "王小宝" in page.inner_text("#gg-residents")
    assert page.inner_text("#gg-members") == "3"  # the town's two, and the baby

    # someone else changes the household meanwhile: the stale save says what they changed
    tag = httpx.get(f"{server}/households/{staying}", headers=AUTH).headers["ETag"]
    other = httpx.patch(f"{server}/households/{staying}", headers={**AUTH, "If-Match": tag},
                        json={"occupancy": "rented", "reason": "社区核实为出租"})
    assert other.status_code == 200, other.text
    page.locator("#gg-change-household-box").evaluate("d => d.open = true")
    page.fill("#gg-change-household input[name=member_count]", "4")
    page.fill("#gg-change-household input[name=reason]", "核实人数")
    _submit(page, "gg-change-household")
    stale = page.locator("#gg-change-household .gg-stale")
    stale.wait_for()
    assert "occupancy: owner → rented" in stale.inner_text()
    assert "was changed" not in page.inner_text("#gg-change-household .gg-msg")  # the reader's half of the message
    view.shot(f"field-{size}-stale")

    # a visit
    page.reload()
    page.locator("#gg-visit-box").evaluate("d => d.open = true")
    page.fill("#gg-visit textarea[name=note]", "入户走访：新生儿登记")
    with page.expect_navigation():
        _submit(page, "gg-visit")
    assert "入户走访：新生儿登记" in page.inner_text("#gg-visits")
    view.shot(f"field-{size}-household")

    # the week's changes and the ledger show it
    page.goto(f"{server}/field/grids/{town.west}/changes", wait_until="networkidle")
    changes = page.locator("li.gg-change").evaluate_all(
        "els => els.map(e => [e.dataset.kind, e.dataset.operation, e.dataset.record])")
    assert ["households", "end", leaving] in changes
    assert any(kind == "residents" and operation == "create" for kind, operation, _ in changes)
    view.shot(f"field-{size}-changes")
    worker = _token(server, f"field{town.sd}")
    ledger = httpx.get(f"{server}/ledger", params={"grid": town.west}, headers=worker).json()
    assert (ledger["households"], ledger["residents"]) == (9, 1)
    with scratch_engine.connect() as conn:
        visits = conn.execute(text("SELECT count(*) FROM visits WHERE household_id = :h"), {"h": staying}).scalar()
    assert visits == 1

    # another grid's page does not exist for them
    assert page.goto(f"{server}/field/grids/{town.east}").status == 404
    # the browser logs each refusal the test provoked: the taken flat and the stale save (409s the
    # page explained) and the other grid (404); nothing else
    provoked = [e for e in view.errors if "status of 409" in e or "status of 404" in e]
    assert len(provoked) == 3, view.errors
    view.errors = [e for e in view.errors if e not in provoked]
    view.clean()
    context.close()


def test_a_manager_sees_their_zones_grids_and_a_worker_only_their_own(scratch_server, town):
    manager = httpx.get(f"{scratch_server}/field", headers=_token(scratch_server, f"zone{town.sd}")).text
    worker = httpx.get(f"{scratch_server}/field", headers=_token(scratch_server, f"field{town.sd}")).text
    shown = {name: re.findall(r'data-code="(\d+)"', html) for name, html in (("manager", manager), ("worker", worker))}
    assert shown == {"manager": [town.west, town.east], "worker": [town.west]}
    assert town.east not in worker


def test_the_pages_speak_english_on_request(scratch_server, town):
    worker = _token(scratch_server, f"field{town.sd}")
    page = httpx.get(f"{scratch_server}/field/grids/{town.west}", params={"lang": "en"}, headers=worker).text
    assert "Register a building" in page and "登记新楼栋" not in page
    assert httpx.get(f"{scratch_server}/field/grids/{town.east}", headers=worker).status_code == 404
