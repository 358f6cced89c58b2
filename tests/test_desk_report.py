"""Reporting a case from the field (/desk/report) in a real headless Chromium, on a phone (390×844,
the device's location granted) and a desktop (1400×900), on a committed town of its own: a grid
worker goes from /field to the form, picks category and sub-type, takes the place from the device
or pins it on the map (a GCJ-02 basemap too), attaches two photos that the phone makes smaller,
and sends; the database holds one case at that place in their grid with both photos, resized. A
dropped answer (the request reached the server, its answer never came back) says "send again",
and the resend makes no second case and attaches no photo twice. Over the API: an attachment's
Idempotency-Key makes a retried upload return the first one. Screenshots go to
/tmp/shots-desk-report/."""

from __future__ import annotations

import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, Watched
from PIL import Image
from shapely import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.crs import to_wgs84
from gisgrid.core.enums import Role
from gisgrid.desk.texts import TEXT

from builders import Town, lonlat

PASSWORD = "Desk-Report-2026!"
SHOTS = Path("/tmp/shots-desk-report")
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
    "desktop": {"viewport": {"width": 1400, "height": 900}},
}
LONGEST = 1600  # the page's resize bound (gisgrid.desk.routes.PHOTO)


@pytest.fixture
def town(scratch_engine):
    """A town of its own per test, with its west grid's lead signed up as a grid worker."""
    town = Town(scratch_engine)
    with Session(scratch_engine) as db:
        town.staff = db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                                     "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": town.west}).scalar_one()
        create_account(db, username=f"desk{town.sd}", display_name="网格员", role=Role.GRID_WORKER,
                       password=PASSWORD, subdistrict=town.sd, staff_id=town.staff)
        db.commit()
    return town


@pytest.fixture
def photos(tmp_path) -> list[Path]:
    """Two real photos larger than the resize bound: a landscape JPEG and a portrait PNG."""
    landscape, portrait = tmp_path / "路面.jpg", tmp_path / "井盖.png"
    Image.new("RGB", (2400, 1800), (200, 80, 40)).save(landscape, quality=95)
    Image.new("RGB", (1000, 3000), (30, 120, 200)).save(portrait)
    return [landscape, portrait]


def _context(browser, size: str, **extra):
    context = browser.new_context(locale="zh-CN", bypass_csp=True, **VIEWPORTS[size], **extra)
    return context, Watched(context.new_page())


def _shot(view: Watched, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    view.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in_and_open_the_form(page, server: str, town, *, from_grid: bool = False) -> None:
    """Sign in as the town's worker, and from /field (the grid's page with ``from_grid``) to the form."""
    page.goto(f"{server}/field")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.fill("input[name=username]", f"desk{town.sd}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/field")
    if from_grid:
        page.click(f"#gg-grids a[href^='/field/grids/{town.west}?']")
        page.wait_for_url(re.compile(rf"/field/grids/{town.west}\b"))
    page.click("#gg-report-link")
    page.wait_for_url(re.compile(r"/desk/report\b"))
    page.wait_for_load_state("networkidle")


def _fill(page, title: str, photos: list[Path]) -> None:
    page.select_option("select[name=category]", "urban_management")
    page.select_option("select[name=subtype]", "urban_management.city_appearance")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "人行道井盖缺失，已设临时围挡")
    page.set_input_files("#gg-photo-input", [str(p) for p in photos])
    page.locator("#gg-photos li img").nth(len(photos) - 1).wait_for()


def _where(engine, title: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("""
            SELECT c.id, c.case_no, c.subtype_code, c.reporter_staff_id, g.code AS grid, ST_X(c.geom) AS lon,
                   ST_Y(c.geom) AS lat FROM cases c LEFT JOIN grids g ON g.id = c.grid_l2_id
            WHERE c.title = :t"""), {"t": title}).mappings()]


def _metres(engine, a: tuple[float, float], b: tuple[float, float]) -> float:
    with engine.connect() as conn:
        return conn.execute(text("SELECT ST_Distance(ST_MakePoint(:a, :b)::geography, ST_MakePoint(:c, :d)::geography)"),
                            {"a": a[0], "b": a[1], "c": b[0], "d": b[1]}).scalar_one()


def _stored_photos(engine, case_id: int) -> list[tuple[str, tuple[int, int]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT media_type, content FROM case_attachments WHERE case_id = :c ORDER BY id"),
                            {"c": case_id}).all()
    return [(r.media_type, Image.open(io.BytesIO(r.content)).size) for r in rows]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_grid_worker_reports_a_case_with_two_photos_from_the_device_location(
        browser, scratch_server, scratch_engine, town, photos, size):
    spot = lonlat(Point(120 + town.dx, 100))  # inside the worker's west grid
    context, view = _context(browser, size, geolocation={"longitude": spot.x, "latitude": spot.y, "accuracy": 8},
                             permissions=["geolocation"])
    page, title = view.page, f"井盖缺失 {size}"
    _sign_in_and_open_the_form(page, scratch_server, town, from_grid=size == "desktop")
    width = page.evaluate("[window.innerWidth, document.documentElement.scrollWidth]")
    assert width[0] == width[1], width  # nothing wider than the screen
    assert page.evaluate("window.ggReportMap.getBounds().contains(window.ggReportMap.getCenter())")

    _fill(page, title, photos)
    page.click("#gg-locate")
    place = page.locator("#gg-place")
    place.filter(has_text="WGS84").wait_for()
    assert "8" in place.inner_text()  # the device's accuracy, in metres
    assert page.evaluate("window.ggDeskReport.location") == {"lon": spot.x, "lat": spot.y, "crs": "WGS84"}
    _shot(view, f"{size}-filled")

    page.click("#gg-send")
    page.locator("#gg-report-done").wait_for()
    case_no = page.inner_text("#gg-case-no")
    assert page.locator("#gg-report").is_hidden()  # the number and the way on, nothing else
    assert page.get_attribute("#gg-case-link", "href") == f"/desk/cases/{case_no}?lang=zh"
    _shot(view, f"{size}-done")

    [case] = _where(scratch_engine, title)
    assert case["case_no"] == case_no and case["grid"] == town.west
    assert case["subtype_code"] == "urban_management.city_appearance" and case["reporter_staff_id"] == town.staff
    assert _metres(scratch_engine, (case["lon"], case["lat"]), (spot.x, spot.y)) < 1
    # both photos, made smaller on the phone: the longest side at the bound, the shape kept
    assert _stored_photos(scratch_engine, case["id"]) == [("image/jpeg", (1600, 1200)), ("image/jpeg", (533, 1600))]
    view.clean()
    context.close()


def _drop_first_answer(page, pattern: str, seen: list[dict]) -> None:
    """The first POST matching ``pattern`` reaches the server, and its answer is lost on the way back."""
    def handle(route):
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        seen.append({"url": request.url, "key": request.headers.get("idempotency-key")})
        if len(seen) == 1:
            route.fetch()   # the server has done the work …
            route.abort()   # … and the phone never hears of it
        else:
            route.continue_()
    page.route(pattern, handle)


def _only_the_dropped_request(view: Watched) -> None:
    """No console error but the one Chromium may log for the aborted request."""
    view.errors = [e for e in view.errors if "ERR_FAILED" not in e]
    view.clean()


def _resend_after_a_drop(page, words: dict) -> None:
    message = page.locator("#gg-report-msg")
    message.filter(has_text=words["retry"]).wait_for()
    assert page.evaluate("window.ggDeskReport.status") == "dropped"
    page.click("#gg-send")
    page.locator("#gg-report-done").wait_for()


def test_a_dropped_answer_to_the_report_is_sent_again_and_makes_one_case(
        browser, scratch_server, scratch_engine, town, photos):
    spot = lonlat(Point(60 + town.dx, 150))
    context, view = _context(browser, "phone", geolocation={"longitude": spot.x, "latitude": spot.y},
                             permissions=["geolocation"])
    page, title, seen = view.page, "弱网上报", []
    _sign_in_and_open_the_form(page, scratch_server, town)
    _drop_first_answer(page, re.compile(r".*/cases$"), seen)
    _fill(page, title, photos)
    page.click("#gg-locate")
    page.locator("#gg-place.gg-place-set").wait_for()
    page.click("#gg-send")
    page.locator("#gg-report-msg").filter(has_text=TEXT["zh"]["retry"]).wait_for()
    assert len(_where(scratch_engine, title)) == 1  # the first send did reach the server
    _shot(view, "phone-dropped-report")
    _resend_after_a_drop(page, TEXT["zh"])
    assert len(seen) == 2 and seen[0]["key"] == seen[1]["key"] and seen[0]["key"]
    [case] = _where(scratch_engine, title)
    assert page.inner_text("#gg-case-no") == case["case_no"]
    assert len(_stored_photos(scratch_engine, case["id"])) == 2
    _only_the_dropped_request(view)
    context.close()


def test_a_dropped_answer_to_a_photo_upload_attaches_it_once(browser, scratch_server, scratch_engine, town, photos):
    spot = lonlat(Point(150 + town.dx, 40))
    context, view = _context(browser, "phone", geolocation={"longitude": spot.x, "latitude": spot.y},
                             permissions=["geolocation"])
    page, title, seen = view.page, "弱网传图", []
    _sign_in_and_open_the_form(page, scratch_server, town)
    _drop_first_answer(page, re.compile(r".*/cases/[^/]+/attachments$"), seen)
    _fill(page, title, photos)
    page.click("#gg-locate")
    page.locator("#gg-place.gg-place-set").wait_for()
    page.click("#gg-send")
    page.locator("#gg-report-msg").filter(has_text=TEXT["zh"]["retry"]).wait_for()
    [case] = _where(scratch_engine, title)
    assert len(_stored_photos(scratch_engine, case["id"])) == 1  # the first photo reached the server
    _shot(view, "phone-dropped-photo")
    _resend_after_a_drop(page, TEXT["zh"])
    assert [s["key"] for s in seen[:2]] == [seen[0]["key"]] * 2 and len(seen) == 3  # the first photo's key, twice
    assert seen[2]["key"] != seen[0]["key"]  # the second photo has a key of its own
    assert len(_where(scratch_engine, title)) == 1
    assert _stored_photos(scratch_engine, case["id"]) == [("image/jpeg", (1600, 1200)), ("image/jpeg", (533, 1600))]
    _only_the_dropped_request(view)
    context.close()


@pytest.mark.parametrize("crs", ["WGS84", "GCJ-02"])
def test_a_pin_on_the_map_is_sent_in_the_basemaps_system(browser, scratch_server, scratch_engine, town, photos,
                                                          monkeypatch, crs):
    from gisgrid.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "basemap_crs", crs)
    context, view = _context(browser, "desktop")
    page, title = view.page, f"地图标点 {crs}"
    _sign_in_and_open_the_form(page, scratch_server, town, from_grid=True)
    target = lonlat(Point(100 + town.dx, 100))  # the middle of the west grid, in WGS84
    # where the basemap draws that place (shifted on a GCJ-02 basemap), as a point of the map's box
    at = page.evaluate("([lat, lon]) => { const p = window.ggReportMap.latLngToContainerPoint(window.ggShift([lat, lon])); "
                       "return {x: p.x, y: p.y}; }", [target.y, target.x])
    _fill(page, title, photos[:1])
    page.locator("#gg-report-map").click(position=at)
    sent = page.evaluate("window.ggDeskReport.location")
    assert sent["crs"] == crs
    page.click("#gg-send")
    page.locator("#gg-report-done").wait_for()
    _shot(view, f"desktop-pinned-{crs}")

    [case] = _where(scratch_engine, title)
    lon, lat = to_wgs84([sent["lon"]], [sent["lat"]], crs)
    assert _metres(scratch_engine, (case["lon"], case["lat"]), (float(lon[0]), float(lat[0]))) < 1
    assert _metres(scratch_engine, (case["lon"], case["lat"]), (target.x, target.y)) < 5  # a pixel or two off
    assert case["grid"] == town.west
    if crs == "GCJ-02":  # the pin's own numbers are some hundred metres off the place they stand for
        assert _metres(scratch_engine, (sent["lon"], sent["lat"]), (target.x, target.y)) > 100
    view.clean()
    context.close()


def test_in_english_the_apis_refusal_stands_next_to_the_field_it_names(browser, scratch_server, scratch_engine,
                                                                        town):
    far = {"longitude": 121.4737, "latitude": 31.2304}  # Shanghai: outside every sub-district of the town
    context, view = _context(browser, "phone", geolocation=far, permissions=["geolocation"])
    page = view.page
    _sign_in_and_open_the_form(page, scratch_server, town)
    page.click("#gg-lang")
    page.wait_for_url(re.compile(r"lang=en"))
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#gg-send") == TEXT["en"]["send"]
    with scratch_engine.connect() as conn:
        english = conn.execute(text("SELECT name_en FROM case_categories WHERE code = 'urban_management'")).scalar_one()
    assert page.inner_text("select[name=category] option[value=urban_management]") == english
    assert page.locator("select[name=category] option").count() == 9  # "choose" and the eight
    page.click("#gg-send")  # nothing filled in: the page's own check names each missing field
    for field in ("category", "title", "location"):
        assert TEXT["en"]["required"] in page.inner_text(f"[data-field={field}] .gg-error")
    page.select_option("select[name=category]", "urban_management")
    page.fill("input[name=title]", "Far away")
    page.click("#gg-locate")
    page.locator("#gg-place.gg-place-set").wait_for()
    page.click("#gg-send")
    refusal = page.locator("[data-field=location] .gg-error")
    refusal.filter(has_text="outside every sub-district").wait_for()
    assert not re.search(r"[\u4e00-\u9fff]", refusal.inner_text())  # the reader's half only
    assert page.locator("#gg-report-case").is_enabled()  # refused: the report may be corrected
    _shot(view, "phone-en-refused")
    provoked = [e for e in view.errors if "status of 422" in e]  # Chromium logs the refusal it was given
    assert len(provoked) == 1, view.errors
    view.errors = [e for e in view.errors if e not in provoked]
    view.clean()
    context.close()


# --- the attachment's Idempotency-Key, over the API ----------------------------------------------

def _jpeg(shade: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (shade, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def _case(http, town, title: str = "附件重试") -> str:
    point = lonlat(Point(120 + town.dx, 100))
    answer = http.post("/cases", json={"category": "urban_management", "title": title, "reporter_name": "网格员",
                                       "location": {"lon": point.x, "lat": point.y}})
    assert answer.status_code == 201, answer.text
    return answer.json()["case_no"]


def _upload(http, case_no: str, content: bytes, key: str | None):
    return http.post(f"/cases/{case_no}/attachments", files={"file": ("现场.jpg", content, "image/jpeg")},
                     headers={"Idempotency-Key": key} if key else {})


def _count(engine, case_no: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM case_attachments a JOIN cases c ON c.id = a.case_id "
                                 "WHERE c.case_no = :n"), {"n": case_no}).scalar_one()


def test_a_retried_upload_returns_the_first_attachment(scratch_http, scratch_engine, town):
    case_no, key, photo = _case(scratch_http, town), str(uuid.uuid4()), _jpeg()
    first = _upload(scratch_http, case_no, photo, key)
    again = _upload(scratch_http, case_no, photo, key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert _count(scratch_engine, case_no) == 1
    # without a key every upload is a new attachment, as before
    assert [_upload(scratch_http, case_no, photo, None).status_code for _ in range(2)] == [201, 201]
    assert _count(scratch_engine, case_no) == 3


def test_an_upload_key_answers_only_its_own_upload(scratch_http, scratch_engine, town):
    case_no, other_case, key = _case(scratch_http, town), _case(scratch_http, town, "另一件"), str(uuid.uuid4())
    assert _upload(scratch_http, case_no, _jpeg(90), key).status_code == 201
    for case, content in ((case_no, _jpeg(200)), (other_case, _jpeg(90))):  # another file; another case
        refused = _upload(scratch_http, case, content, key)
        assert refused.status_code == 422 and refused.json()["where"] == "Idempotency-Key", refused.text
    assert (_count(scratch_engine, case_no), _count(scratch_engine, other_case)) == (1, 0)
    short = _upload(scratch_http, case_no, _jpeg(), "short")  # the header's own bounds
    assert short.status_code == 422


def test_concurrent_retries_of_one_upload_attach_it_once(scratch_server, scratch_engine, town):
    with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as http:
        case_no = _case(http, town)
    key, photo = str(uuid.uuid4()), _jpeg()

    def upload(_):
        with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as client:
            return _upload(client, case_no, photo, key)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(upload, range(16)))
    assert sorted(a.status_code for a in answers) == [200] * 15 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _count(scratch_engine, case_no) == 1


def test_a_retry_after_the_case_moved_on_still_gets_its_answer(scratch_http, scratch_engine, town):
    case_no, key, photo = _case(scratch_http, town), str(uuid.uuid4()), _jpeg()
    first = _upload(scratch_http, case_no, photo, key)
    rejected = scratch_http.post(f"/cases/{case_no}/transitions", json={"to": "rejected", "note": "不属于受理范围"})
    assert rejected.status_code == 200, rejected.text
    again = _upload(scratch_http, case_no, photo, key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _upload(scratch_http, case_no, photo, str(uuid.uuid4())).status_code == 409  # a new upload is not
    assert _count(scratch_engine, case_no) == 1
