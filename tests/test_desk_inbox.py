"""The inbox (/desk) over real HTTP on a committed town of its own, on a clock the test holds: each
role's every tab holds exactly the cases of its scope and tab (checked against plain SQL written
here), the counts equal the lists, paging by cursor visits every case once, the filters narrow as
the API's do, bad input is a clear 422; and in Chromium at 390×844 and 1400×900 the grid worker
and the community manager see their inbox, in Chinese and in English, without a console error.
Screenshots go to /tmp/shots-desk-inbox/."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import Watched, serve
from shapely import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.cases import workflow
from gisgrid.cases.calendar import work_calendar
from gisgrid.cases.schemas import CaseReport, Location, Transition
from gisgrid.core.clock import FixedClock
from gisgrid.core.dependencies import Actor
from gisgrid.core.enums import CaseStatus as S
from gisgrid.core.enums import Role

from builders import Town, lonlat

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=BEIJING)  # a Monday morning
PASSWORD = "Desk-Inbox-2026!"
SHOTS = Path("/tmp/shots-desk-inbox")
SUPERVISOR = Actor("督查员", None, "admin")  # registers, dispatches, checks and closes
OPEN = ("reported", "registered", "dispatched", "in_progress", "handled", "verified")
STEP_ORDER = ["register", "dispatch", "start", "handle", "verify", "close"]
# each path from reported, and whether the case then climbs one or two levels
PATHS = {
    "reported": [], "registered": [S.REGISTERED], "dispatched": [S.REGISTERED, S.DISPATCHED],
    "in_progress": [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS],
    "handled": [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED],
    "verified": [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED, S.VERIFIED],
    "closed": [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED, S.VERIFIED, S.CLOSED],
    "rejected": [S.REJECTED], "duplicate": [S.DUPLICATE],
}


@pytest.fixture(scope="module")
def clock():
    return FixedClock(START)  # in Beijing time: sign-in must still write its cookie in UTC


@pytest.fixture(scope="module")
def server(scratch_engine, clock):
    with serve(scratch_engine, clock=clock) as url:
        yield url


def _lead(db, code: str) -> int:
    return db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                           "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": code}).scalar_one()


def _report(town: Town, x: float, subtype: str = "urban_management.city_appearance") -> CaseReport:
    point = lonlat(Point(x + town.dx, 100))
    return CaseReport(category=subtype.split(".")[0], subtype=subtype, title=f"事件{x:.0f}",
                      location=Location(lon=point.x, lat=point.y), reporter_name="网格员")


def _cases(db, town: Town, worker: Actor, admin_name: str) -> None:
    """Every status in both grids, reported from a few minutes to four days and forty days back,
    some escalated one or two levels, one handled by the administrator's own account."""
    original = None
    k = 0
    for x, handler in ((120.0, worker), (320.0, Actor("东网格员", None, "grid_worker"))):
        for name, path in PATHS.items():
            for offset in (timedelta(minutes=20), timedelta(hours=30), timedelta(days=4)):
                k += 1
                at = START - offset - timedelta(minutes=k)
                subtype = "public_safety.fire_safety" if k % 5 == 0 else "urban_management.city_appearance"
                case, _ = workflow.intake(db, _report(town, x + k % 7, subtype), actor=SUPERVISOR, now=at)
                case_no = case["case_no"]
                original = original or case_no
                for to in path:
                    actor = handler if to in (S.IN_PROGRESS, S.HANDLED) else SUPERVISOR
                    note = "理由" if to in (S.REJECTED, S.DUPLICATE) else None
                    workflow.transition(db, case_no, Transition(to=to, note=note,
                                                                duplicate_of=original if to is S.DUPLICATE else None),
                                        actor=actor, now=at)
                if name in ("dispatched", "in_progress") and offset.days:
                    workflow.escalate(db, case_no, actor=SUPERVISOR, now=at, note="需要社区协调")
                    if x > 300:
                        workflow.escalate(db, case_no, actor=SUPERVISOR, now=at, note="需要街道协调")
    # a case the administrator handled under their own account: theirs not to check
    case, _ = workflow.intake(db, _report(town, 150), actor=SUPERVISOR, now=START - timedelta(hours=2))
    for to in (S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED):
        actor = Actor(admin_name, None, "admin") if to is S.HANDLED else SUPERVISOR
        workflow.transition(db, case["case_no"], Transition(to=to), actor=actor, now=START - timedelta(hours=2))
    # closed long ago, out of the closed tab's thirty days
    old, _ = workflow.intake(db, _report(town, 160), actor=SUPERVISOR, now=START - timedelta(days=40))
    for to in PATHS["closed"]:
        actor = worker if to in (S.IN_PROGRESS, S.HANDLED) else SUPERVISOR
        workflow.transition(db, old["case_no"], Transition(to=to), actor=actor, now=START - timedelta(days=40))


@pytest.fixture(scope="module")
def town(scratch_engine, server):
    """A town with a grid worker (the west grid's lead), a community manager of its zone (the
    zone's lead's staff record), an administrator of its sub-district, a leading group, and cases
    in every state; and a neighbouring town whose cases nobody here may see."""
    town, other = Town(scratch_engine), Town(scratch_engine)
    with Session(scratch_engine) as db:
        for t in (town, other):
            head = db.execute(text("INSERT INTO staff (name, sex, phone, party_member) VALUES ('街道主任', 'F', "
                                   "'010-1', true) RETURNING id")).scalar_one()
            db.execute(text("INSERT INTO leading_group_members VALUES (:sd, :id, true)"), {"sd": t.sd, "id": head})
        worker_staff, zone_staff = _lead(db, town.west), _lead(db, town.l1)
        town.users = {"worker": f"ibw{town.sd}", "manager": f"ibm{town.sd}", "admin": f"iba{town.sd}"}
        create_account(db, username=town.users["worker"], display_name="网格员", role=Role.GRID_WORKER,
                       password=PASSWORD, subdistrict=town.sd, staff_id=worker_staff)
        create_account(db, username=town.users["manager"], display_name="社区管理员", role=Role.COMMUNITY_MANAGER,
                       password=PASSWORD, subdistrict=town.sd, scope_grid=town.l1, staff_id=zone_staff)
        create_account(db, username=town.users["admin"], display_name="街道管理员", role=Role.ADMIN,
                       password=PASSWORD, subdistrict=town.sd)
        worker = Actor(town.users["worker"], worker_staff, "grid_worker")
        _cases(db, town, worker, town.users["admin"])
        _cases(db, other, Actor("外镇网格员", _lead(db, other.west), "grid_worker"), "nobody")
        db.commit()
        town.staff = {"worker": worker_staff, "manager": zone_staff, "admin": None}
        town.grid_ids = {code: db.execute(text("SELECT id FROM grids WHERE code = :c"), {"c": code}).scalar_one()
                         for code in (town.l1, town.west, town.east)}
    town.tokens = {}
    for role, username in town.users.items():
        answer = httpx.post(f"{server}/auth/sign-in", json={"username": username, "password": PASSWORD}, timeout=30)
        town.tokens[role] = {"Authorization": f"Bearer {answer.json()['token']}"}
    return town


# --- what each tab must hold, written out in plain SQL -------------------------------------------

def _scope(town, role: str) -> tuple[str, dict]:
    return {"worker": ("c.grid_l2_id = :west", {"west": town.grid_ids[town.west]}),
            "manager": ("c.grid_l1_id = :l1", {"l1": town.grid_ids[town.l1]}),
            "admin": ("c.subdistrict_code = :sd", {"sd": town.sd})}[role]


def _tab(town, role: str, tab: str) -> tuple[str, dict]:
    now = START
    me, name = town.staff[role], town.users[role]
    is_open = f"c.status::text IN {OPEN}"
    held = "(c.status::text IN ('dispatched', 'in_progress') AND c.assignee_staff_id = :me)"
    # the last "handled" step was this caller's (by staff record or by name)
    handled_by_me = """EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'handled'
                       AND (e.actor_staff_id = :me OR e.actor = :name)
                       AND NOT EXISTS (SELECT 1 FROM case_events later WHERE later.case_id = c.id
                                       AND later.to_status = 'handled' AND (later.at, later.id) > (e.at, e.id)))"""
    supervise = f"""(c.status::text IN ('reported', 'registered')
                     OR (c.status::text IN ('handled', 'verified') AND NOT {handled_by_me}))"""
    condition = {
        "mine": held if role == "worker" else f"({held} OR {supervise})",
        "grids": is_open,
        "due_soon": f"{is_open} AND c.due_at >= :now AND c.due_at <= :soon",
        "overdue": f"{is_open} AND c.due_at < :now",
        "escalated": f"{is_open} AND c.escalations > 0 AND c.handling_level = {1 if role == 'manager' else 0}",
        "closed": "c.status = 'closed' AND c.closed_at >= :recent",
        "all": "true",
    }[tab]
    return condition, {"me": me, "name": name, "now": now, "soon": work_calendar().add(now, 8),
                       "recent": now - timedelta(days=30)}


def expected(engine, town, role: str, tab: str, extra: str = "true", **params) -> set[str]:
    scope, scope_params = _scope(town, role)
    condition, tab_params = _tab(town, role, tab)
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT c.case_no FROM cases c WHERE {scope} AND {condition} AND {extra}"),
                                {**scope_params, **tab_params, **params}).scalars())


TABS = {"worker": ["mine", "grids", "due_soon", "overdue", "closed", "all"],
        "manager": ["mine", "grids", "due_soon", "overdue", "escalated", "closed", "all"],
        "admin": ["mine", "grids", "due_soon", "overdue", "escalated", "closed", "all"]}


def _get(server, town, role, **params) -> httpx.Response:
    return httpx.get(f"{server}/desk", params=params, headers={**town.tokens[role], "Accept": "text/html"}, timeout=60)


def _listed(page: str) -> list[str]:
    return re.findall(r'<tr class="ib-case[^"]*" data-case="([^"]+)"', page)


def _counts(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def _states(page: str) -> dict[str, str | None]:
    """Each listed case's clock state (None: no clock)."""
    out = {}
    for row in page.split('<tr class="ib-case')[1:]:
        state = re.search(r'data-state="(\w+)"', row.split("</tr>")[0])
        out[re.search(r'data-case="([^"]+)"', row).group(1)] = state.group(1) if state else None
    return out


def _walk(server, town, role, **params) -> list[str]:
    """Every case of a tab, page after page by the next-page link."""
    seen, answer = [], _get(server, town, role, **params)
    while True:
        assert answer.status_code == 200, answer.text
        seen += _listed(answer.text)
        link = re.search(r'<a href="([^"]+)" id="ib-next"', answer.text)
        if link is None:
            return seen
        answer = httpx.get(html.unescape(link.group(1)), headers={**town.tokens[role], "Accept": "text/html"},
                           timeout=60)


# --- the tests ----------------------------------------------------------------------------------

def test_working_hours_between_two_moments_undo_adding_them():
    cal = work_calendar()
    friday_5pm = datetime(2026, 11, 27, 17, 0, tzinfo=BEIJING)
    monday_9 = datetime(2026, 11, 30, 9, 0, tzinfo=BEIJING)
    assert cal.hours_between(friday_5pm, monday_9) == 1.0  # 17:00–17:30 and 08:30–09:00
    assert cal.hours_between(monday_9, friday_5pm) == -1.0
    assert cal.hours_between(monday_9, monday_9) == 0.0
    assert cal.hours_between(monday_9.replace(hour=12), monday_9.replace(hour=13)) == 0.0  # lunch
    assert cal.hours_between(friday_5pm.astimezone(UTC), monday_9.astimezone(UTC)) == 1.0
    for hours in (0.5, 3.5, 7.5, 16, 40, 123.25):
        assert cal.hours_between(friday_5pm, cal.add(friday_5pm, hours)) == pytest.approx(hours)
    holiday = replace(cal, holidays=frozenset({monday_9.date()}))
    assert holiday.hours_between(friday_5pm, monday_9 + timedelta(days=1)) == 1.0  # Monday off: Tuesday's half hour


@pytest.mark.parametrize("role", list(TABS))
def test_every_tab_holds_exactly_its_cases_and_the_counts_say_so(server, scratch_engine, town, role):
    first = _get(server, town, role, limit=200)
    counts = _counts(first.text)
    assert list(counts) == TABS[role]
    for tab in TABS[role]:
        answer = _get(server, town, role, tab=tab, limit=200)
        assert answer.status_code == 200, answer.text
        listed = _listed(answer.text)
        want = expected(scratch_engine, town, role, tab)
        assert len(listed) == len(set(listed)) and set(listed) == want, (role, tab)
        assert counts[tab] == len(listed), (role, tab)
        if tab != "all":
            assert want, (role, tab)  # the town gives every tab something to hold
    worker_mine = expected(scratch_engine, town, "worker", "mine")
    assert worker_mine and worker_mine <= expected(scratch_engine, town, "worker", "grids")
    # the administrator handled one case: the manager may check it, they may not
    handled_by_admin = expected(scratch_engine, town, "admin", "grids",
                                "EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.actor = :who)",
                                who=town.users["admin"])
    assert len(handled_by_admin) == 1
    assert handled_by_admin <= expected(scratch_engine, town, "manager", "mine")
    assert not handled_by_admin & expected(scratch_engine, town, "admin", "mine")


def test_mine_is_grouped_by_the_step_to_take_and_the_clock_is_in_words(server, scratch_engine, town):
    page = _get(server, town, "manager", tab="mine", limit=200).text
    steps = re.findall(r'data-step="(\w+)"', page)
    assert steps == sorted(steps, key=STEP_ORDER.index) and len(steps) == len(set(steps))
    assert {"register", "dispatch", "start", "verify", "close"} <= set(steps)  # escalated to the zone: start
    with scratch_engine.connect() as conn:
        rows = conn.execute(text("SELECT case_no, due_at FROM cases WHERE subdistrict_code = :sd AND due_at IS NOT NULL"),
                            {"sd": town.sd}).all()
    states = _states(page)
    assert states
    for case_no, due in rows:
        if case_no in states:
            assert (states[case_no] == "over") == (due < START), case_no
    assert "超期" in page and "工作小时" in page
    # a case reported 20 minutes before Monday 09:00 on a 4-hour register limit: 4 h left less 30 min
    # of Monday's working time already gone (08:30–09:00) — 3.5 h, more than half: on time
    fresh = [c for c, due in rows if work_calendar().hours_between(START, due) == pytest.approx(3.5)]
    assert fresh and all(states.get(c) == "ok" for c in fresh if c in states)
    assert "剩 3.5 工作小时" in page


def test_paging_by_cursor_visits_every_case_once(server, scratch_engine, town):
    for role, tab in (("admin", "all"), ("manager", "mine"), ("admin", "overdue"), ("worker", "all")):
        seen = _walk(server, town, role, tab=tab, limit=3)
        assert len(seen) == len(set(seen)) and set(seen) == expected(scratch_engine, town, role, tab), (role, tab)
        assert len(seen) > 3
    newest_first = _walk(server, town, "admin", tab="all", limit=7)
    with scratch_engine.connect() as conn:
        order = conn.execute(text("SELECT case_no FROM cases WHERE subdistrict_code = :sd ORDER BY reported_at DESC, id DESC"),
                             {"sd": town.sd}).scalars().all()
    assert newest_first == order


def test_filters_narrow_every_tab_and_its_count(server, scratch_engine, town):
    filters = [({"category": "public_safety.fire_safety"}, "c.subtype_code = 'public_safety.fire_safety'"),
               ({"category": "public_safety"}, "c.category_code = 'public_safety'"),
               ({"grid": town.east}, f"c.grid_l2_id = {town.grid_ids[town.east]}"),
               ({"status": "in_progress"}, "c.status = 'in_progress'"),
               ({"status": "closed"}, "c.status::text IN ('closed', 'rejected', 'duplicate')"),
               ({"from": "2026-11-20", "to": "2026-11-22"},
                "c.reported_at >= timestamptz '2026-11-20 00:00+08' AND c.reported_at < timestamptz '2026-11-23 00:00+08'")]
    narrowed = 0
    for params, condition in filters:
        page = _get(server, town, "manager", tab="all", limit=200, **params).text
        counts = _counts(page)
        for tab in TABS["manager"]:
            want = expected(scratch_engine, town, "manager", tab, condition)
            listed = _listed(page) if tab == "all" else _listed(_get(server, town, "manager", tab=tab, limit=200,
                                                                         **params).text)
            assert set(listed) == want and counts[tab] == len(want), (params, tab)
        narrowed += len(_listed(page)) < len(expected(scratch_engine, town, "manager", "all"))
    assert narrowed == len(filters)
    empty_form = _get(server, town, "manager", tab="all", category="", grid="", status="", limit=200, **{"from": "", "to": ""})
    assert set(_listed(empty_form.text)) == expected(scratch_engine, town, "manager", "all")


def _cursor(tab: str, values: list) -> str:
    """A cursor as a client might forge it."""
    return base64.urlsafe_b64encode(json.dumps([tab, values]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("params, where", [
    ({"tab": "inbox"}, "tab"), ({"tab": "escalated"}, "tab"),  # a grid worker has nothing escalated to them
    ({"from": "2026-02-30"}, "from"), ({"to": "yesterday"}, "to"), ({"from": "2026-11-23", "to": "2026-11-01"}, "from"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "W1siYWxsIl0"}, "cursor"),
    ({"tab": "all", "cursor": _cursor("all", ["2026-11-01T00:00:00+00:00", 10**30])}, "cursor"),  # past bigint
    ({"tab": "all", "cursor": _cursor("all", ["2026-11-01T00:00:00", 5])}, "cursor"),  # a time without its zone
    ({"cursor": _cursor("mine", [7, "2026-11-01T00:00:00+00:00", 5])}, "cursor"),  # no eighth step
    ({"category": "no_such"}, "category"), ({"grid": "12"}, "grid"), ({"status": "lost"}, "status"),
    ({"limit": "0"}, "query.limit"), ({"limit": "lots"}, "query.limit"),
])
def test_bad_input_is_a_clear_422(server, town, params, where):
    answer = httpx.get(f"{server}/desk", params=params, headers=town.tokens["worker"], timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["where"] == where and " / " in answer.json()["message"]


def test_a_cursor_of_one_tab_does_not_page_another(server, town):
    answer = _get(server, town, "admin", tab="all", limit=2)
    cursor = re.search(r'cursor=([^"&]+)', html.unescape(re.search(r'<a href="([^"]+)" id="ib-next"',
                                                                   answer.text).group(1))).group(1)
    assert _get(server, town, "admin", tab="all", limit=2, cursor=cursor).status_code == 200
    refused = httpx.get(f"{server}/desk", params={"tab": "closed", "cursor": cursor}, headers=town.tokens["admin"])
    assert refused.status_code == 422 and refused.json()["where"] == "cursor"


VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1400, "height": 900}},
}


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("role", ["worker", "manager"])
def test_the_inbox_in_chromium(browser, server, scratch_engine, town, role, size):
    context = browser.new_context(locale="zh-CN", bypass_csp=True, extra_http_headers=town.tokens[role],
                                  **VIEWPORTS[size])
    view = Watched(context.new_page())
    page = view.page
    page.goto(f"{server}/desk", wait_until="networkidle")
    assert page.locator("#ib-tabs a[aria-current=page]").inner_text().startswith("待我办理")
    shown = page.locator("tr.ib-case").evaluate_all("rows => rows.map(r => r.dataset.case)")
    assert set(shown) == expected(scratch_engine, town, role, "mine")
    width = VIEWPORTS[size]["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the screen
    layout = page.locator("tr.ib-case").first.evaluate("r => getComputedStyle(r).display")
    assert layout == ("grid" if size == "phone" else "table-row")
    link = page.locator("tr.ib-case .ib-no a").first
    assert re.fullmatch(r"/desk/cases/[0-9]{9}-2026-[0-9]{6}\?lang=zh", link.get_attribute("href"))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{role}-{size}-mine.png"), full_page=True)

    page.locator("#ib-tabs a[data-tab=overdue]").click()
    page.wait_for_url(re.compile(r"tab=overdue"))
    overdue = page.locator("tr.ib-case").evaluate_all("rows => rows.map(r => r.dataset.case)")
    assert set(overdue) == expected(scratch_engine, town, role, "overdue")
    assert page.locator(".ib-time[data-state=over]").count() == len(overdue)
    assert page.locator(".ib-time[data-state=over]").first.inner_text().startswith("超期")

    page.locator("#gg-lang").click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert "tab=overdue" in page.url
    assert page.locator("#ib-tabs a[aria-current=page]").inner_text().startswith("Overdue")
    assert "working h overdue" in page.locator(".ib-time[data-state=over]").first.inner_text()
    page.screenshot(path=str(SHOTS / f"{role}-{size}-overdue-en.png"), full_page=True)
    view.clean()
    context.close()
