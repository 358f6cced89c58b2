"""The supervisors' views on a committed sub-district of two communities and a clock the test
moves: /desk/overdue counts by grid and by holder what a plain SQL query over the tables counts,
for the community manager (their zone) and the sub-district's administrator (the leading group),
and no grid worker opens it; the weekly summary page links each figure of the week's new cases
to the list with the filters that select exactly those cases (``GET /cases`` answers the same
count). Screenshots at 390×844 and 1400×900 go to /tmp/shots-desk-supervise/."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import AUTH, Watched, serve
from shapely import Point
from shapely.affinity import translate
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.clock import FixedClock
from gisgrid.core.enums import Role
from gisgrid.grids import membership

from builders import Territory, lonlat, metres_box

# Monday 23 November 2026, 9:00 in Beijing (week 2026-W48), in UTC as a server's clock gives it
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
WEEK = {"week": "2026-W48"}
PASSWORD = "Desk-Supervise-2026!"
CHECKER = {"X-Actor": "%E7%9D%A3%E6%9F%A5%E5%91%98"}  # 督查员: the check is not the handler's own
SHOTS = Path("/tmp/shots-desk-supervise")
OPEN_OVERDUE = "c.due_at < :now AND c.status::text NOT IN ('closed', 'rejected', 'duplicate')"
_numbers = itertools.count(1)


class TwoZones:
    """A sub-district of its own (3 km north of the Towns of other tests), two communities: the
    first with a west and an east grid, the second with one grid; every grid has its lead."""

    def __init__(self, engine):
        n = next(_numbers)
        self.sd, self.dx, self.dy = f"110108{n:03d}", 1000 * n, 3000
        with Session(engine) as db:
            t = Territory(db, self.sd, self.box(0, 0, 600, 200))
            for suffix, shape in (("001", (0, 0, 400, 200)), ("001001", (0, 0, 200, 200)),
                                  ("001002", (200, 0, 400, 200)), ("002", (400, 0, 600, 200)),
                                  ("002001", (400, 0, 600, 200))):
                t.grid(suffix, self.box(*shape))
            membership.refresh(db, subdistrict=self.sd)
            db.commit()
        self.zone, self.west, self.east = self.sd + "001", self.sd + "001001", self.sd + "001002"
        self.other_zone, self.far = self.sd + "002", self.sd + "002001"

    def box(self, x0, y0, x1, y1):
        return translate(metres_box(x0, y0, x1, y1), self.dx, self.dy)

    def point(self, x: float) -> dict:
        p = lonlat(Point(x + self.dx, 100 + self.dy))
        return {"lon": p.x, "lat": p.y}


@pytest.fixture(scope="module")
def clock():
    return FixedClock(START)


@pytest.fixture(scope="module")
def server(scratch_engine, clock):
    with serve(scratch_engine, clock=clock) as url:
        yield url


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server, timeout=60, headers=AUTH) as client:
        yield client


def _report(api, zones, x: float, title: str, *steps: str) -> str:
    created = api.post("/cases", json={
        "category": "urban_management" if x < 300 else "public_safety", "title": title,
        "description": title, "location": zones.point(x), "reporter_name": "网格员"})
    assert created.status_code == 201, created.text
    case_no = created.json()["case_no"]
    for to in steps:
        moved = api.post(f"/cases/{case_no}/transitions", json={"to": to},
                         headers=CHECKER if to in ("verified", "closed") else {})
        assert moved.status_code == 200, (to, moved.text)
    return case_no


@pytest.fixture(scope="module")
def place(api, scratch_engine, clock):
    """Cases in every state at Monday 9:00; five days on most are past their deadlines, and one
    reported then (on a Saturday) is not yet. A second sub-district has an overdue case too."""
    clock.at = START
    zones, elsewhere = TwoZones(scratch_engine), TwoZones(scratch_engine)
    dispatched = ("registered", "dispatched")
    cases = {
        "waiting": _report(api, zones, 50, "井盖缺失"),                                  # to register: nobody holds it
        "west": _report(api, zones, 100, "垃圾堆放", *dispatched),
        "west_started": _report(api, zones, 150, "占道经营", *dispatched, "in_progress"),
        "east": _report(api, zones, 300, "路灯不亮", *dispatched),
        "far": _report(api, zones, 500, "噪音扰民", *dispatched),
        "closed": _report(api, zones, 520, "乱贴广告", *dispatched, "in_progress", "handled", "verified", "closed"),
        "elsewhere": _report(api, elsewhere, 100, "别处的事", *dispatched),
    }
    clock.advance(days=5)  # Saturday 28 November, 9:00
    cases["fresh"] = _report(api, zones, 120, "新报的事", *dispatched)
    with Session(scratch_engine) as db:
        lead = db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                               "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": zones.west}).scalar_one()
        for username, role, extra in (
                (f"zone{zones.sd}", Role.COMMUNITY_MANAGER, {"scope_grid": zones.zone}),
                (f"head{zones.sd}", Role.ADMIN, {}),
                (f"worker{zones.sd}", Role.GRID_WORKER, {"staff_id": lead})):
            create_account(db, username=username, display_name=username, role=role, password=PASSWORD,
                           subdistrict=zones.sd, **extra)
        db.commit()
    tokens = {}
    for role, username in (("manager", f"zone{zones.sd}"), ("leading_group", f"head{zones.sd}"),
                           ("worker", f"worker{zones.sd}")):
        answer = api.post("/auth/sign-in", json={"username": username, "password": PASSWORD})
        tokens[role] = {"Authorization": f"Bearer {answer.json()['token']}"}
    return {"zones": zones, "elsewhere": elsewhere, "cases": cases, "tokens": tokens}


class Rows(HTMLParser):
    """The rows of the overdue page, by section: (data-key, data-cases) of every row, the links
    of every row, and the total."""

    def __init__(self, html: str):
        super().__init__()
        self.section, self.rows, self.links, self.cases, self.total, self._in_total = None, {}, {}, [], None, False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id")
        elif tag == "li" and "data-cases" in a:
            self.rows.setdefault(self.section, {})[a["data-key"]] = int(a["data-cases"])
            self._key = a["data-key"]
        elif tag == "li" and "data-case" in a:
            self.cases.append(a["data-case"])
        elif tag == "a" and self.section in self.rows and a.get("href"):
            self.links.setdefault((self.section, self._key), []).append(a["href"])
        elif tag == "b" and a.get("id") == "gg-od-total":
            self._in_total = True

    def handle_data(self, data):
        if self._in_total:
            self.total, self._in_total = int(data), False


def _plain_counts(engine, where: str, params: dict, now: datetime) -> dict:
    """What the page must show, counted straight from the tables."""
    with engine.connect() as conn:
        def q(key: str, join: str) -> dict:
            return {("" if k is None else str(k)): n for k, n in conn.execute(text(
                f"SELECT {key}, count(*) FROM cases c {join} WHERE {where} AND {OPEN_OVERDUE} GROUP BY 1"),
                {**params, "now": now})}
        return {"gg-od-grids": q("g.code", "LEFT JOIN grids g ON g.id = c.grid_l2_id"),
                "gg-od-communities": q("g.code", "LEFT JOIN grids g ON g.id = c.grid_l1_id"),
                "gg-od-workers": q("c.assignee_staff_id", ""),
                "longest": [r[0] for r in conn.execute(text(
                    f"SELECT c.case_no FROM cases c WHERE {where} AND {OPEN_OVERDUE} ORDER BY c.due_at, c.id"),
                    {**params, "now": now})]}


def test_overdue_by_grid_and_worker_equal_the_tables_for_each_scope(api, place, scratch_engine, clock):
    zones, tokens, cases = place["zones"], place["tokens"], place["cases"]
    scopes = {"manager": ("c.grid_l1_id = (SELECT id FROM grids WHERE code = :zone)", {"zone": zones.zone}),
              "leading_group": ("c.subdistrict_code = :sd", {"sd": zones.sd})}
    for role, (where, params) in scopes.items():
        answer = api.get("/desk/overdue", headers=tokens[role])
        assert answer.status_code == 200, answer.text[:300]
        page, expected = Rows(answer.text), _plain_counts(scratch_engine, where, params, clock.now())
        assert page.rows["gg-od-grids"] == expected["gg-od-grids"], role
        assert page.rows["gg-od-workers"] == expected["gg-od-workers"], role
        assert page.total == sum(expected["gg-od-grids"].values()) and page.cases == expected["longest"], role
        for code in expected["gg-od-grids"]:  # each grid opens the inbox filtered to it
            assert f"/desk?tab=overdue&grid={code}&lang=zh" in page.links[("gg-od-grids", code)]
        if role == "manager":  # a zone has no communities to break into
            assert "gg-od-communities" not in page.rows
        else:
            assert page.rows["gg-od-communities"] == expected["gg-od-communities"]
        seen = {c for c in cases.values() if f"/desk/cases/{c}?" in answer.text}
        assert cases["elsewhere"] not in seen and cases["closed"] not in seen and cases["fresh"] not in seen
    # the figures are what the scenario made, not only what the page and the query agree on
    manager = Rows(api.get("/desk/overdue", headers=tokens["manager"]).text)
    assert manager.rows["gg-od-grids"] == {zones.west: 3, zones.east: 1}
    assert manager.rows["gg-od-workers"][""] == 1  # the case waiting to be registered, held by nobody
    assert manager.cases[0] == cases["waiting"]  # its 4-hour limit ran out first
    assert Rows(api.get("/desk/overdue", headers=tokens["leading_group"]).text).rows["gg-od-communities"] == {
        zones.zone: 4, zones.other_zone: 1}
    assert "Longest overdue" in api.get("/desk/overdue?lang=en", headers=tokens["manager"]).text
    assert api.get("/desk/overdue", headers=tokens["worker"]).status_code == 403
    assert httpx.get(f"{api.base_url}/desk/overdue").status_code == 401


class Links(HTMLParser):
    """Every linked figure of the weekly page: (href, the number shown)."""

    def __init__(self, html: str):
        super().__init__()
        self.found, self._href = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "gg-list" in (a.get("class") or ""):
            self._href = a["href"]

    def handle_data(self, data):
        if self._href is not None and data.strip():
            self.found.append((self._href, int(data)))
            self._href = None


def _as_api(href: str) -> dict:
    """The inbox link's filters as ``GET /cases`` takes them (the overdue tab is ``overdue=true``)."""
    url = urlsplit(href)
    assert url.path == "/desk", href
    query = dict(parse_qsl(url.query))
    tab = query.pop("tab")
    query.pop("lang")
    assert tab in ("all", "overdue"), href
    return {**query, **({"overdue": "true"} if tab == "overdue" else {}), "limit": 1}


@pytest.mark.parametrize("role", ["manager", "leading_group"])
def test_the_weekly_figures_link_to_lists_of_the_same_cases(api, place, role):
    zones, headers = place["zones"], place["tokens"][role]
    answer = api.get("/reports/weekly/page", params=WEEK, headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    links = Links(answer.text).found
    report = api.get("/reports/weekly", params=WEEK, headers=headers).json()
    assert len(links) > 20 and sum(n for _, n in links) > 0
    for href, shown in links:
        listed = api.get("/cases", params=_as_api(href), headers=headers)
        assert listed.status_code == 200, (href, listed.text[:200])
        assert listed.json()["numberMatched"] == shown, href
        inbox = api.get(href, headers=headers)  # and the inbox the link opens lists the same cases
        assert inbox.status_code == 200 and inbox.text.count('<tr class="ib-case') == shown, href
    week = "from=2026-11-23&to=2026-11-29&lang=zh"
    if role == "manager":  # the zone's report, its units the grids
        area, unit = f"grid={zones.zone}", zones.west
        assert (f"/desk?tab=all&grid={unit}&{week}", 4) in links  # reported there this week, "fresh" too
        assert (f"/desk?tab=overdue&grid={unit}&{week}", 3) in links
        assert (f"/desk?tab=all&status=closed&grid={unit}&{week}", 0) in links
    else:  # the sub-district's, its units the communities
        area, unit = f"subdistrict={zones.sd}", zones.other_zone
        assert (f"/desk?tab=all&status=closed&grid={unit}&{week}", 1) in links
        assert (f"/desk?tab=all&grid={unit}&{week}", 2) in links
    total_new = (f"/desk?tab=all&{area}&{week}", report["total"]["new"])
    assert total_new in links and report["total"]["new"] == (5 if role == "manager" else 7)
    category = (f"/desk?tab=all&{area}&category=urban_management&{week}",
                next(c["new"] for c in report["by_category"] if c["code"] == "urban_management"))
    assert category in links
    # a caller over several sub-districts: the sub-district's link holds its cases only
    whole = api.get(f"/desk?tab=all&subdistrict={zones.sd}&{week}", headers=AUTH).text
    assert whole.count('<tr class="ib-case') == 7
    assert 'id="ib-empty"' in api.get(f"/desk?tab=all&subdistrict=999999999&{week}", headers=AUTH).text
    english = api.get("/reports/weekly/page", params={**WEEK, "lang": "en"}, headers=headers).text
    assert "new cases stand now" in english
    assert all(href.endswith(f"&{week[:-2]}en") for href, _ in Links(english).found)


@pytest.mark.parametrize("size", [(390, 844), (1400, 900)])
def test_the_pages_in_chromium(browser, server, place, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    width, height = size
    phone = width < 500
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=True,
                                  is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1,
                                  extra_http_headers=place["tokens"]["leading_group"])
    view = Watched(context.new_page())
    page = view.page
    try:
        for name, path in (("overdue", "/desk/overdue"), ("overdue-en", "/desk/overdue?lang=en"),
                           ("weekly", "/reports/weekly/page?week=2026-W48")):
            page.goto(server + path)
            page.wait_for_load_state("load")
            document_width = page.evaluate("document.documentElement.scrollWidth")
            if name.startswith("overdue"):
                assert document_width <= width, (name, document_width)  # nothing wider than the screen
                assert page.locator("#gg-od-grids li").count() == 3  # west, east and the second community's
                page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
            else:
                assert page.locator("a.gg-list").count() > 20
                page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        view.clean()
    finally:
        context.close()
