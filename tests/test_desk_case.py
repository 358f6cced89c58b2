"""The case page (/desk/cases/{case_no}) on a committed town of its own: its buttons are exactly
the steps the API accepts (every status × role, each offered step taken through the API, each
refused one tried and refused); a case's version (ETag) makes a stale step 409 with the steps
taken since; and in a real headless Chromium, on a phone (390×844) and a desktop (1400×900), a
case goes round the whole loop by clicking — a failed check included — and the resident's
/track shows its steps, while a step someone else took meanwhile shows what changed.
Screenshots go to /tmp/shots-desk-case/."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, Watched
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role, StaffRole
from gisgrid.staff.models import GridAssignment, Staff

from builders import LAT0, LAT_STEP, LON0, LON_STEP, Town

PASSWORD = "Desk-Case-Tests-2026!"
SHOTS = Path("/tmp/shots-desk-case")
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
    "desktop": {"viewport": {"width": 1400, "height": 900}},
}


@pytest.fixture(scope="module")
def town(scratch_engine):
    """A town with its west grid's lead signed up as a grid worker, a volunteer on that grid (a
    second person to dispatch to), and a community manager of its zone."""
    town = Town(scratch_engine)
    with Session(scratch_engine) as db:
        lead = db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                               "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": town.west}).scalar_one()
        volunteer = Staff(name="志愿者小李", phone="13900000017")
        db.add(volunteer)
        db.flush()
        grid = db.execute(text("SELECT id FROM grids WHERE code = :c"), {"c": town.west}).scalar_one()
        db.add(GridAssignment(staff_id=volunteer.id, grid_id=grid, role=StaffRole.VOLUNTEER))
        create_account(db, username=f"worker{town.sd}", display_name="网格员", role=Role.GRID_WORKER,
                       password=PASSWORD, subdistrict=town.sd, staff_id=lead)
        create_account(db, username=f"manager{town.sd}", display_name="社区管理员", role=Role.COMMUNITY_MANAGER,
                       password=PASSWORD, subdistrict=town.sd, scope_grid=town.l1)
        db.commit()
        town.lead, town.volunteer = lead, volunteer.id
    return town


def _headers(server: str, username: str) -> dict:
    answer = httpx.post(f"{server}/auth/sign-in", json={"username": username, "password": PASSWORD}, timeout=30)
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@pytest.fixture(scope="module")
def as_(scratch_server, town):
    """An API client per role: the tests' administrator, the community manager, the grid worker."""
    headers = {"admin": AUTH, "manager": _headers(scratch_server, f"manager{town.sd}"),
               "worker": _headers(scratch_server, f"worker{town.sd}")}
    clients = {who: httpx.Client(base_url=scratch_server, timeout=60, headers=h) for who, h in headers.items()}
    yield clients
    for client in clients.values():
        client.close()


def _report(as_, town, title: str = "楼道堆物") -> dict:
    """A case in the west grid, reported by its grid worker through the API."""
    point = {"lon": round(LON0 + (100 + town.dx) * LON_STEP, 7), "lat": round(LAT0 + 120 * LAT_STEP, 7)}
    answer = as_["worker"].post("/cases", json={
        "category": "urban_management", "subtype": "urban_management.city_appearance", "title": title,
        "description": "三单元楼道堆放杂物，堵住消防通道。", "location": point, "reporter_name": "网格员",
        "address": "测试路 3 号"})
    assert answer.status_code == 201, answer.text
    return answer.json()


# each step: the endpoint and a body that satisfies everything the step's form asks for, so a
# refusal is the workflow's rule and never a missing field
def _attempt(client, case_no: str, step: str, *, original: str, someone: int, headers: dict | None = None):
    transitions = {"register": {"to": "registered"}, "reject": {"to": "rejected", "note": "不属于受理范围"},
                   "duplicate": {"to": "duplicate", "note": "同一处堆物", "duplicate_of": original},
                   "dispatch": {"to": "dispatched"}, "start": {"to": "in_progress"}, "handled": {"to": "handled"},
                   "verify_pass": {"to": "verified"}, "verify_fail": {"to": "dispatched", "note": "仍有杂物"},
                   "close": {"to": "closed", "satisfaction": 5, "feedback": "处理及时"}}
    if step in transitions:
        return client.post(f"/cases/{case_no}/transitions", json=transitions[step], headers=headers or {})
    if step == "escalate":
        return client.post(f"/cases/{case_no}/escalate", json={"note": "需社区协调"}, headers=headers or {})
    return client.post(f"/cases/{case_no}/reassign", json={"assignee_staff_id": someone, "note": "派错了"},
                       headers=headers or {})


STEPS = ("register", "reject", "duplicate", "dispatch", "start", "handled", "verify_pass", "verify_fail", "close",
         "escalate", "reassign")
# how a case reaches each state: (who, step) from reported; the worker handles unless said otherwise
WAYS = {
    "reported": [],
    "registered": [("manager", "register")],
    "dispatched": [("manager", "register"), ("manager", "dispatch")],
    "escalated": [("manager", "register"), ("manager", "dispatch"), ("manager", "escalate")],
    "in_progress": [("manager", "register"), ("manager", "dispatch"), ("worker", "start")],
    "handled": [("manager", "register"), ("manager", "dispatch"), ("worker", "start"), ("worker", "handled")],
    "verified": [("manager", "register"), ("manager", "dispatch"), ("worker", "start"), ("worker", "handled"),
                 ("manager", "verify_pass")],
    "handled_by_manager": [("manager", "register"), ("manager", "dispatch"), ("manager", "start"),
                           ("manager", "handled")],
    "verified_by_admin": [("manager", "register"), ("manager", "dispatch"), ("manager", "start"),
                          ("manager", "handled"), ("admin", "verify_pass")],
    "closed": [("manager", "register"), ("manager", "dispatch"), ("worker", "start"), ("worker", "handled"),
               ("manager", "verify_pass"), ("manager", "close")],
    "rejected": [("manager", "reject")],
    "duplicate": [("manager", "duplicate")],
}
SUPERVISE = {"reported": {"register", "reject", "duplicate"}, "registered": {"dispatch", "escalate"},
             "dispatched": {"start", "reassign", "escalate"}, "escalated": {"start", "reassign"},
             "in_progress": {"handled", "reassign", "escalate"}, "handled": {"verify_pass"},
             "verified": {"verify_fail", "close"}, "closed": set(), "rejected": set(), "duplicate": set()}
# what each role's page offers: a supervisor every step of the loop; a grid worker no intake or
# dispatch, and no check of what they handled themselves; nobody checks their own handling; the
# town has no leading group, so a case with the community goes no higher
EXPECTED = {
    **{(state, role): steps for state, steps in SUPERVISE.items() for role in ("admin", "manager")},
    **{(state, "worker"): steps - {"register", "reject", "duplicate", "dispatch", "reassign"}
       for state, steps in SUPERVISE.items() if state not in ("handled", "verified")},
    ("handled", "worker"): set(), ("verified", "worker"): set(),
    ("handled_by_manager", "admin"): {"verify_pass"}, ("handled_by_manager", "manager"): set(),
    ("handled_by_manager", "worker"): {"verify_pass"},
    ("verified_by_admin", "admin"): {"verify_fail", "close"}, ("verified_by_admin", "manager"): set(),
    ("verified_by_admin", "worker"): {"verify_fail", "close"},
}


def _case_in(as_, town, state: str, original: str) -> str:
    case_no = _report(as_, town)["case_no"]
    for who, step in WAYS[state]:
        answer = _attempt(as_[who], case_no, step, original=original, someone=town.volunteer)
        assert answer.status_code == 200, (state, who, step, answer.text)
    return case_no


def _offered(client, case_no: str) -> set[str]:
    page = client.get(f"/desk/cases/{case_no}", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text[:300]
    return set(re.findall(r'<button type="button" class="gg-step[^"]*" data-step="(\w+)"', page.text))


@pytest.mark.parametrize("state", list(WAYS))
def test_the_buttons_are_exactly_the_steps_the_api_accepts(as_, town, state):
    """For every role on a case in ``state``: each step the page offers, taken through the API on
    a case just like it, is accepted; each step it does not offer, tried with everything its form
    would carry, is refused (403 or 409) and leaves the case as it was."""
    original = _report(as_, town, "原件")["case_no"]
    for role, client in as_.items():
        case_no = _case_in(as_, town, state, original)
        offered = _offered(client, case_no)
        assert offered == EXPECTED[state, role], (state, role, offered)
        before = as_["admin"].get(f"/cases/{case_no}")
        # a dispatch and a failed check are one request (to: dispatched): offering one is offering it
        same_request = {"dispatch", "verify_fail"} if offered & {"dispatch", "verify_fail"} else set()
        for step in sorted(set(STEPS) - offered - same_request):
            refused = _attempt(client, case_no, step, original=original, someone=town.volunteer)
            assert refused.status_code in (403, 409), (state, role, step, refused.status_code, refused.text)
        after = as_["admin"].get(f"/cases/{case_no}")
        assert after.headers["ETag"] == before.headers["ETag"] and after.json()["status"] == before.json()["status"]
        for step in sorted(offered):
            fresh = _case_in(as_, town, state, original)
            taken = _attempt(client, fresh, step, original=original, someone=town.volunteer)
            assert taken.status_code == 200, (state, role, step, taken.text)


def test_the_dispatch_form_suggests_the_grids_lead_among_its_staff(as_, town):
    case_no = _case_in(as_, town, "registered", "")
    page = as_["manager"].get(f"/desk/cases/{case_no}", headers={"Accept": "text/html"}).text
    form = page[page.index('id="gg-form-dispatch"'):]
    form = form[:form.index("</form>")]
    options = re.findall(r'<option value="(\d+)"( selected)?>', form)
    assert options[0] == (str(town.lead), " selected")           # the lead of the grid holding the place
    assert (str(town.volunteer), "") in options                  # and the grid's other staff to choose from
    reassign = _case_in(as_, town, "dispatched", "")
    page = as_["manager"].get(f"/desk/cases/{reassign}", headers={"Accept": "text/html"}).text
    form = page[page.index('id="gg-form-reassign"'):]
    form = form[:form.index("</form>")]
    chosen = re.findall(r'<option value="(\d+)"', form)
    assert str(town.volunteer) in chosen and str(town.lead) not in chosen  # not who holds it already


def test_a_stale_step_is_refused_with_the_steps_taken_since(as_, town):
    case_no = _report(as_, town)["case_no"]
    manager, admin = as_["manager"], as_["admin"]
    read = manager.get(f"/cases/{case_no}")
    assert read.headers["ETag"] == '"v1"'
    registered = manager.post(f"/cases/{case_no}/transitions", json={"to": "registered", "note": "属实"},
                              headers={"If-Match": read.headers["ETag"]})
    assert registered.status_code == 200, registered.text
    assert registered.headers["ETag"] == '"v2"'
    for path, body in (("transitions", {"to": "dispatched"}), ("escalate", {"note": "上报"}),
                       ("reassign", {"assignee_staff_id": town.volunteer, "note": "改派"})):
        stale = admin.post(f"/cases/{case_no}/{path}", json=body, headers={"If-Match": '"v1"'})
        assert stale.status_code == 409, (path, stale.text)
        detail = stale.json()["detail"]
        assert stale.json()["where"] == "If-Match" and detail["current"] == '"v2"'
        assert [(s["from_status"], s["to_status"], s["actor"], s["note"]) for s in detail["steps_since"]] == [
            ("reported", "registered", f"manager{town.sd}", "属实")]
        assert detail["steps_since"][0]["at"]
    assert manager.get(f"/cases/{case_no}").json()["status"] == "registered"  # nothing taken
    bad = admin.post(f"/cases/{case_no}/transitions", json={"to": "dispatched"}, headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["where"] == "If-Match"
    unversioned = admin.post(f"/cases/{case_no}/transitions", json={"to": "dispatched"})  # clients without If-Match
    assert unversioned.status_code == 200 and unversioned.headers["ETag"] == '"v3"'


def test_a_case_outside_the_callers_scope_has_no_page(as_, town, scratch_server):
    """The east grid's case is not the west grid worker's: 404, as the API answers."""
    point = {"lon": round(LON0 + (300 + town.dx) * LON_STEP, 7), "lat": round(LAT0 + 100 * LAT_STEP, 7)}
    east = as_["admin"].post("/cases", json={"category": "urban_management", "title": "井盖缺失", "location": point,
                                             "reporter_name": "市民"}).json()["case_no"]
    assert as_["worker"].get(f"/desk/cases/{east}", headers={"Accept": "text/html"}).status_code == 404
    assert as_["worker"].get(f"/cases/{east}").status_code == 404
    assert as_["manager"].get(f"/desk/cases/{east}", headers={"Accept": "text/html"}).status_code == 200


def _png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (0xc0, 0x20, 0x20)) -> bytes:
    """A plain PNG, as a phone's photo stands in for it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# --- in the browser --------------------------------------------------------------------------------

def _open(browser, server: str, headers: dict, size: str, **extra):
    context = browser.new_context(locale="zh-CN", bypass_csp=True, extra_http_headers=headers, **VIEWPORTS[size],
                                  **extra)
    return context, Watched(context.new_page())


def _shot(view: Watched, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    view.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _step(page, step: str, fill: dict | None = None, select: dict | None = None) -> None:
    """Press a step's button, fill its form and send it; the page reloads with the case moved on."""
    page.click(f"button.gg-step[data-step={step}]")
    form = f"#gg-form-{step}"
    for name, value in (fill or {}).items():
        page.fill(f"{form} [name={name}]", value)
    for name, value in (select or {}).items():
        page.select_option(f"{form} [name={name}]", value)
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")
    page.wait_for_function("() => window.ggCase && window.ggCase.ready")


def _buttons(page) -> list[str]:
    return page.locator("button.gg-step").evaluate_all("els => els.map(e => e.dataset.step)")


def _report_from_the_field(worker, server: str, town, title: str, photos: list[Path]) -> str:
    """On the worker's phone: /field → the report form, the place from the device, two camera
    photos, sent; the case number the page answers with."""
    page = worker.page
    page.goto(f"{server}/field", wait_until="networkidle")
    page.click("#gg-report-link")
    page.wait_for_url(re.compile(r"/desk/report\b"))
    page.wait_for_load_state("networkidle")
    page.select_option("select[name=category]", "urban_management")
    page.select_option("select[name=subtype]", "urban_management.city_appearance")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "三单元楼道堆放杂物，堵住消防通道。")
    page.set_input_files("#gg-photo-input", [str(p) for p in photos])
    page.locator("#gg-photos li img").nth(len(photos) - 1).wait_for()
    page.click("#gg-locate")
    page.locator("#gg-place").filter(has_text="WGS84").wait_for()
    page.click("#gg-send")
    page.locator("#gg-report-done").wait_for()
    return page.inner_text("#gg-case-no")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_case_goes_round_the_loop_by_clicking(browser, scratch_server, scratch_engine, as_, town, size, tmp_path):
    server = scratch_server
    spot = {"longitude": round(LON0 + (100 + town.dx) * LON_STEP, 7), "latitude": round(LAT0 + 120 * LAT_STEP, 7)}
    manager_context, manager = _open(browser, server, dict(as_["manager"].headers), size)
    worker_context, worker = _open(browser, server, dict(as_["worker"].headers), size, geolocation=spot,
                                   permissions=["geolocation"])
    m, w = manager.page, worker.page

    photos = [tmp_path / "楼道.png", tmp_path / "消防通道.png"]
    for photo, colour in zip(photos, ((0xc0, 0x20, 0x20), (0x20, 0x60, 0xc0)), strict=True):
        photo.write_bytes(_png(640, 480, colour))
    title = f"楼道堆物（{size}）"
    case_no = _report_from_the_field(worker, server, town, title, photos)
    with scratch_engine.connect() as conn:
        landed = conn.execute(text("SELECT c.tracking_code, g.code AS grid, c.reporter_staff_id, "
                                   "(SELECT count(*) FROM case_attachments a WHERE a.case_id = c.id) AS photos "
                                   "FROM cases c JOIN grids g ON g.id = c.grid_l2_id WHERE c.case_no = :n"),
                              {"n": case_no}).mappings().one()
    assert (landed["grid"], landed["reporter_staff_id"], landed["photos"]) == (town.west, town.lead, 2)
    code, url = landed["tracking_code"], f"{server}/desk/cases/{case_no}"
    _shot(worker, f"{size}-0-reported-from-the-field")

    # it waits in the community manager's inbox, in the step to take: register
    m.goto(f"{server}/desk?tab=mine", wait_until="networkidle")
    step = m.evaluate("""(no) => { let row = document.querySelector(`tr.ib-case[data-case="${no}"]`);
        while (row && !row.classList.contains('ib-step')) row = row.previousElementSibling;
        return row && row.querySelector('th').dataset.step; }""", case_no)
    assert step == "register"
    _shot(manager, f"{size}-0-inbox")
    m.click(f"tr.ib-case[data-case='{case_no}'] a")
    m.wait_for_url(re.compile(rf"/desk/cases/{case_no}\b"))
    sent = as_["worker"].post(f"/cases/{case_no}/attachments",  # the notice served later, as a scan
                              files={"file": ("告知书.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert sent.status_code == 201, sent.text

    m.goto(url, wait_until="networkidle")
    assert m.inner_text("#gg-status") == "上报"
    shown = m.locator("#gg-attachments img").evaluate_all("els => els.map(img => img.complete && img.naturalWidth)")
    assert shown == [640, 640]  # both photos shown, as the phone sent them (under the resize bound)
    assert m.locator("#gg-attachments a.gg-file").get_attribute("href").startswith(f"/cases/{case_no}/attachments/")
    assert "城市管理" in m.inner_text("#gg-category") and "堵住消防通道" in m.inner_text("#gg-words")
    assert _buttons(m) == ["register", "reject", "duplicate"]
    width = m.evaluate("[window.innerWidth, document.documentElement.scrollWidth]")
    assert width[0] == width[1], width  # nothing wider than the screen
    view = m.evaluate("""() => { const map = window.ggCaseMap, b = map.getBounds();
        return {size: [map.getSize().x, map.getSize().y], metres: map.distance(b.getNorthWest(), b.getNorthEast()),
                holds: b.contains(L.latLng(...window.gisgridPage.cfg.map.point)),
                outlines: document.querySelectorAll('#gg-map .leaflet-overlay-pane path').length}; }""")
    assert view["holds"] and 150 <= view["metres"] <= 2500, view   # framed on the case, not the city
    assert view["outlines"] >= 3, view                                # the grids around it, and the case
    _shot(manager, f"{size}-1-reported")

    # the API's refusal stands next to the field it names, in the reader's half of the message
    m.click("button.gg-step[data-step=duplicate]")
    m.fill("#gg-form-duplicate [name=duplicate_of]", f"{town.sd}-2000-999999")
    m.fill("#gg-form-duplicate [name=note]", "重复上报")
    m.click("#gg-form-duplicate button[type=submit]")
    refusal = m.locator("#gg-form-duplicate .gg-error[data-for=duplicate_of]")
    refusal.wait_for()
    m.wait_for_function("() => document.querySelector('#gg-form-duplicate .gg-error[data-for=duplicate_of]').textContent")
    assert "没有可对应的事件" in refusal.inner_text() and "no other case" not in refusal.inner_text()
    _shot(manager, f"{size}-2-refused")
    m.click("#gg-form-duplicate .gg-cancel")

    _step(m, "register", fill={"note": "情况属实，立案"})
    assert m.inner_text("#gg-status") == "立案" and "立案" in m.inner_text("#gg-notice")
    m.click("button.gg-step[data-step=dispatch]")
    assert m.locator("#gg-form-dispatch [name=assignee_staff_id]").input_value() == str(town.lead)  # the suggestion
    _shot(manager, f"{size}-3-dispatch")
    _step(m, "dispatch")
    assert m.inner_text("#gg-status") == "派遣" and "组长001001" in m.inner_text("#gg-holder")

    w.goto(url, wait_until="networkidle")
    assert _buttons(w) == ["start", "escalate"]
    _step(w, "start")
    _step(w, "handled", fill={"note": "已清理楼道杂物"})
    assert _buttons(w) == []  # the check is someone else's
    _shot(worker, f"{size}-4-handled")

    m.reload(wait_until="networkidle")
    _step(m, "verify_pass")
    assert _buttons(m) == ["close", "verify_fail"]
    m.click("button.gg-step[data-step=verify_fail]")
    m.click("#gg-form-verify_fail button[type=submit]")  # a failed check needs a note
    assert m.inner_text("#gg-form-verify_fail .gg-error[data-for=note]") == "必填"
    _step(m, "verify_fail", fill={"note": "三楼仍有纸箱"})
    assert m.inner_text("#gg-status") == "派遣"

    w.reload(wait_until="networkidle")
    _step(w, "start")
    _step(w, "handled", fill={"note": "纸箱已清走"})
    m.reload(wait_until="networkidle")
    _step(m, "verify_pass", fill={"note": "复查合格"})
    _step(m, "close", fill={"feedback": "居民满意"}, select={"satisfaction": "5"})
    assert m.inner_text("#gg-status") == "结案" and _buttons(m) == []
    timeline = m.locator("#gg-timeline li").evaluate_all("els => els.map(e => e.dataset.to)")
    assert timeline == ["reported", "registered", "dispatched", "in_progress", "handled", "verified", "dispatched",
                        "in_progress", "handled", "verified", "closed"]
    assert "三楼仍有纸箱" in m.inner_text("#gg-timeline")
    assert m.locator("#gg-timeline .gg-good, #gg-timeline .gg-late").count() >= 4  # each stage: met or missed
    _shot(manager, f"{size}-5-closed")

    # the resident follows it by the tracking code
    m.goto(f"{server}/track?code={code}", wait_until="networkidle")
    m.locator("#gg-steps li").nth(10).wait_for()
    steps = m.inner_text("#gg-steps")
    assert steps.count("处置完毕") == 2 and "结案" in steps
    _shot(manager, f"{size}-6-track")

    # a stale step: the case moves by an API call between the page's load and the click
    other = _report(as_, town, f"路灯不亮（{size}）")["case_no"]
    m.goto(f"{server}/desk/cases/{other}", wait_until="networkidle")
    moved = as_["admin"].post(f"/cases/{other}/transitions", json={"to": "registered", "note": "热线已立案"})
    assert moved.status_code == 200
    m.click("button.gg-step[data-step=register]")
    with m.expect_navigation():
        m.click("#gg-form-register button[type=submit]")
    m.wait_for_function("() => window.ggCase && window.ggCase.ready")
    notice = m.inner_text("#gg-notice")
    assert "他人已办理" in notice and "热线已立案" in notice and "上报 → 立案" in notice
    assert m.inner_text("#gg-timeline li:last-child .gg-when") in notice  # the same time as the timeline's
    assert _buttons(m) == ["dispatch", "escalate"]  # the buttons as the case stands now
    _shot(manager, f"{size}-7-stale")

    m.goto(f"{server}/desk/cases/{other}?lang=en", wait_until="networkidle")
    assert m.inner_text("button.gg-step[data-step=dispatch]") == "Dispatch" and m.inner_text("#gg-status") == "registered"
    _shot(manager, f"{size}-8-english")

    # under the page's Content Security Policy (the other contexts bypass it for Playwright's waits)
    strict_context = browser.new_context(extra_http_headers=dict(as_["manager"].headers), **VIEWPORTS[size])
    strict = Watched(strict_context.new_page())
    strict.page.goto(url, wait_until="networkidle")
    assert strict.page.locator("#gg-map .leaflet-overlay-pane path").count() >= 3
    strict.clean()
    strict_context.close()

    # the browser logs each refusal the test provoked (the unknown original, the stale step): nothing else
    provoked = [e for e in manager.errors if "status of 422" in e or "status of 409" in e]
    assert len(provoked) == 2, manager.errors
    manager.errors = [e for e in manager.errors if e not in provoked]
    manager.clean()
    worker.clean()
    manager_context.close()
    worker_context.close()
