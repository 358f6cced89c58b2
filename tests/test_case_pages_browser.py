"""The residents' public form end to end in a real headless Chromium, on the scratch database
(the reports commit): a pin by mouse, one case however often the form is sent, refusals shown
and nothing stored, then the tracking page through closure to the rating. No console error,
nothing fetched from outside 127.0.0.1. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from shapely import Point
from sqlalchemy import text

from builders import Town, lonlat

CASE = """SELECT c.case_no, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, g.code AS grid, c.satisfaction, c.feedback
          FROM cases c LEFT JOIN grids g ON g.id = c.grid_l2_id WHERE c.tracking_code = :t"""


@pytest.fixture
def town(scratch_engine):
    return Town(scratch_engine)


def drop_pin(page, town, x_m: float, y_m: float) -> Point:
    """Click the map at local metres (shifted like the overlays on a GCJ-02 basemap); the WGS84 point."""
    point = lonlat(Point(x_m + town.dx, y_m))
    x, y = page.evaluate("""([lat, lon]) => {
        const map = window[JSON.parse(document.getElementById('gg-config').textContent).map];
        const p = map.latLngToContainerPoint(window.ggShift([lat, lon]));
        const box = map.getContainer().getBoundingClientRect();
        return [p.x + box.left, p.y + box.top]; }""", [point.y, point.x])
    page.mouse.click(x, y)
    return point


def open_form(page, server, town, lang="zh"):
    page.goto(f"{server}/report?subdistrict={town.sd}&lang={lang}", wait_until="networkidle")
    page.wait_for_function("window.ggReport.status === 'ready'")


def fill(page, title: str) -> None:
    page.select_option("select[name=category]", "urban_management")
    page.select_option("select[name=subtype]", "urban_management.city_appearance")
    page.fill("input[name=title]", title)


def cases_in(engine, town) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT title FROM cases WHERE subdistrict_code = :sd ORDER BY id"),
                            {"sd": town.sd}).scalars().all()


def test_a_resident_reports_by_pin_follows_the_case_and_rates_it(scratch_server, scratch_engine, scratch_http,
                                                                 watched, town):
    page = watched.page
    keys = []
    page.on("request", lambda r: keys.append(r.headers["idempotency-key"])
            if r.method == "POST" and r.url.endswith("/public/cases") else None)
    open_form(page, scratch_server, town)
    fill(page, "垃圾堆放")
    page.fill("textarea[name=description]", "楼下垃圾三天未清运")

    page.click("#gg-submit")                        # no pin yet: asked to click the map, nothing sent
    assert "地图" in page.inner_text("#gg-message") and keys == []
    drop_pin(page, town, 100, 260)                  # north of the town: outside every sub-district
    page.click("#gg-submit")
    page.wait_for_function("window.ggReport.status === 'refused'")
    assert "不在任何街道内" in page.inner_text("#gg-message")
    assert cases_in(scratch_engine, town) == []

    point = drop_pin(page, town, 100, 120)          # the pin moves into the west grid
    assert "已选位置" in page.inner_text("#gg-pin")
    watched.shot("case-report-form")
    page.dblclick("#gg-submit")
    page.wait_for_function("window.ggReport.status === 'done'")
    code = page.inner_text("#gg-code").strip()
    with scratch_engine.connect() as conn:
        case = conn.execute(text(CASE), {"t": code}).one()
    assert cases_in(scratch_engine, town) == ["垃圾堆放"]
    assert abs(case.lon - point.x) < 3 * 117e-7 and abs(case.lat - point.y) < 3 * 90e-7  # within 3 m
    assert case.grid == town.west
    assert page.get_attribute("#gg-track", "href") == f"/track?code={code}&lang=zh"
    watched.shot("case-report-done")

    page.click("#gg-again")                         # a new fill: sent twice at once, still one case
    fill(page, "路灯不亮")
    drop_pin(page, town, 300, 50)
    page.evaluate("() => { const f = document.getElementById('gg-form'); f.requestSubmit(); f.requestSubmit(); }")
    page.wait_for_function("window.ggReport.status === 'done'")
    page.wait_for_load_state("networkidle")
    assert cases_in(scratch_engine, town) == ["垃圾堆放", "路灯不亮"]
    assert keys[-1] == keys[-2] and len(set(keys)) == 3  # refused, first report, the double send

    page.goto(f"{scratch_server}/track?code={code}", wait_until="networkidle")
    page.wait_for_function("window.ggTrack.status === 'shown'")
    assert "上报" in page.inner_text("#gg-status") and page.locator("#gg-steps li").count() == 1
    assert not page.is_visible("#gg-rating")

    for to in ("registered", "dispatched", "in_progress", "handled", "verified", "closed"):
        moved = scratch_http.post(f"/cases/{case.case_no}/transitions",
                                  json={"to": to, "note": "垃圾已清运" if to == "closed" else None},
                                  headers={"X-Actor": "%E7%9D%A3%E6%9F%A5%E5%91%98"} if to in ("verified", "closed") else {})
        assert moved.status_code == 200, moved.text
    page.reload(wait_until="networkidle")
    page.wait_for_function("window.ggTrack.status === 'shown'")
    assert "结案" in page.inner_text("#gg-status") and page.locator("#gg-steps li").count() == 7
    assert "垃圾已清运" in page.inner_text("#gg-steps")
    page.check("input[name=satisfaction][value='4']")
    page.fill("textarea[name=feedback]", "处理及时")
    watched.shot("case-track")
    page.click("#gg-send")
    page.wait_for_function("window.ggTrack.status === 'rated'")
    assert not page.is_visible("#gg-rating") and "★★★★☆" in page.inner_text("#gg-facts")
    with scratch_engine.connect() as conn:
        rated = conn.execute(text(CASE), {"t": code}).one()
    assert (rated.satisfaction, rated.feedback) == (4, "处理及时")
    watched.shot("case-track-rated")
    # the refused report is a 422 the page showed; the browser logs it as a failed resource
    watched.errors = [e for e in watched.errors if "422" not in e]
    watched.clean()


def test_on_a_gcj02_basemap_the_pin_lands_where_it_was_put(scratch_server, scratch_engine, watched, town,
                                                            monkeypatch):
    from gisgrid.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "basemap_crs", "GCJ-02")
    page = watched.page
    open_form(page, scratch_server, town)
    fill(page, "井盖缺失")
    point = drop_pin(page, town, 60, 60)            # on the shifted basemap, hundreds of metres from WGS84
    page.click("#gg-submit")
    page.wait_for_function("window.ggReport.status === 'done'")
    with scratch_engine.connect() as conn:
        case = conn.execute(text(CASE), {"t": page.inner_text("#gg-code").strip()}).one()
    assert abs(case.lon - point.x) < 3 * 117e-7 and abs(case.lat - point.y) < 3 * 90e-7
    assert case.grid == town.west
    watched.clean()


def test_the_pages_in_english(scratch_server, watched, town):
    page = watched.page
    open_form(page, scratch_server, town, lang="en")
    assert "Report a problem" in page.inner_text("#gg-panel")
    assert "Urban management" in page.inner_text("select[name=category]")
    page.select_option("select[name=category]", "urban_management")
    assert "City appearance and environment" in page.inner_text("select[name=subtype]")
    watched.shot("case-report-form-en")
    page.goto(f"{scratch_server}/track?lang=en&code=ABCDEFGHJK", wait_until="networkidle")
    page.wait_for_function("window.ggTrack.status === 'refused'")
    assert page.inner_text("#gg-message") == "no case has this tracking code"
    watched.shot("case-track-en")
    watched.errors = [e for e in watched.errors if "404" not in e]
    watched.clean()


def test_a_refused_report_speaks_chinese_on_the_chinese_form(scratch_server, watched, town):
    """A check the API's validation makes (a title over 200 characters) reaches the Chinese form
    in Chinese, not as pydantic's English."""
    page = watched.page
    open_form(page, scratch_server, town)
    fill(page, "垃圾堆放")
    page.evaluate("document.querySelector('input[name=title]').removeAttribute('maxlength')")
    page.fill("input[name=title]", "长" * 300)
    drop_pin(page, town, 100, 120)
    page.click("#gg-submit")
    page.wait_for_function("window.ggReport.status === 'refused'")
    message = page.inner_text("#gg-message")
    assert "200" in message and "字符" in message and not re.search(r"[A-Za-z]{3,}", message), message
    watched.errors = [e for e in watched.errors if "422" not in e]  # the refused POST the page handled
    watched.clean()
