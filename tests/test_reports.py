"""Reports: the assessment of a hand-built month with answers worked out by hand, the weekly
summary against raw counts of the demo's own rows, the exports, and the report commands."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from test_case_workflow import SD, new_case, step, town  # noqa: F401  (town is a fixture)

from gisgrid.cases import workflow
from gisgrid.core.dependencies import Actor
from gisgrid.core.enums import CaseStatus as S
from gisgrid.core.scope import WHOLE
from gisgrid.reports.assessment import assessment
from gisgrid.reports.weekly import week_bounds, weekly

Z = ZoneInfo("Asia/Shanghai")
GISGRID = str(Path(sys.executable).with_name("gisgrid"))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=Z)


@pytest.fixture
def month(db, town):  # noqa: F811
    """November 2026 in two grids (worked answers in the tests):
    A (west): reported 2 Nov 09:00, every step on time, closed 3 Nov 15:00, rated 5.
    B (west): registered late, its handling deadline (Wed 11 Nov 16:10) missed and swept at
      17:00 to the community lead, handled there on time, a failed check reopens it, handled
      again, closed 13 Nov 15:00, rated 3.
    C (east): rejected.  D (east): dispatched to the east lead, then reassigned to the west lead.
    Training on 20 Nov: the west lead 90/100, the east lead absent."""
    west, east, community = town.leads[SD + "001001"], town.leads[SD + "001002"], town.leads[SD + "001"]
    a = new_case(db, now=at(2, 9))["case_no"]
    for to, when in ((S.REGISTERED, at(2, 10)), (S.DISPATCHED, at(2, 10, 30)), (S.IN_PROGRESS, at(2, 11)),
                     (S.HANDLED, at(3, 10)), (S.VERIFIED, at(3, 11))):
        step(db, a, to, now=when)
    step(db, a, S.CLOSED, now=at(3, 15), satisfaction=5, feedback="满意")
    b = new_case(db, now=at(9, 9))["case_no"]
    for to, when in ((S.REGISTERED, at(9, 15)), (S.DISPATCHED, at(9, 15, 10)), (S.IN_PROGRESS, at(10, 9))):
        step(db, b, to, now=when)
    assert workflow.escalate_overdue(db, at(11, 17), subdistrict=SD) == [b]
    for to, when in ((S.HANDLED, at(12, 10)), (S.VERIFIED, at(12, 11))):
        step(db, b, to, now=when)
    step(db, b, S.DISPATCHED, now=at(12, 14), note="未清理干净")
    for to, when in ((S.IN_PROGRESS, at(12, 15)), (S.HANDLED, at(13, 10)), (S.VERIFIED, at(13, 11))):
        step(db, b, to, now=when)
    step(db, b, S.CLOSED, now=at(13, 15), satisfaction=3)
    c = new_case(db, now=at(16, 9), x=300)["case_no"]
    step(db, c, S.REJECTED, now=at(16, 10), note="不属于受理范围")
    d = new_case(db, now=at(23, 9), x=300)["case_no"]
    step(db, d, S.REGISTERED, now=at(23, 9, 30))
    step(db, d, S.DISPATCHED, now=at(23, 9, 40))
    workflow.reassign(db, d, west, actor=Actor("中心"), now=at(23, 10), note="位置在西侧网格")
    course = db.execute(text("INSERT INTO training_courses (subdistrict_code, title, held_on, hours) "
                             "VALUES (:sd, '业务培训', '2026-11-20', 4) RETURNING id"), {"sd": SD}).scalar_one()
    db.execute(text("INSERT INTO training_records VALUES (:c, :w, true, 90), (:c, :e, false, NULL)"),
               {"c": course, "w": west, "e": east})
    return {"a": a, "b": b, "c": c, "d": d, "west": west, "east": east, "community": community}


def _by(report, key, value):
    return next(item for item in report["items"] if item[key] == value)


def test_grid_assessment_of_a_hand_built_month(db, month):
    report = assessment(db, since=date(2026, 11, 1), until=date(2026, 11, 30), by="grid", scope=WHOLE, subdistrict=SD)
    west, east = _by(report, "grid", SD + "001001"), _by(report, "grid", SD + "001002")
    assert west["on_time_registration"] == 0.5          # A on time, B registered after 14:30
    assert west["accurate_dispatch"] == 1.0
    assert west["on_time_handling"] == 1.0              # three handled steps, each within the deadline then in force
    assert west["on_time_closure"] == 1.0
    assert west["closure"] == 1.0                       # A and B registered in November, both closed
    assert west["reopen"] == round(1 / 3, 4)            # three checks, one failed
    assert west["escalation"] == 0.5                    # B escalated of A, B dispatched
    assert west["cases_handled"] == 3
    # from the dispatch each handled step answers: A 2 Nov 10:30 → 3 Nov 10:00 (23.5 h); B escalated
    # 11 Nov 17:00 → handled 12 Nov 10:00 (17 h), reopened 12 Nov 14:00 → handled 13 Nov 10:00 (20 h)
    assert west["mean_handling_hours"] == pytest.approx((23.5 + 17 + 20) / 3, abs=0.01)
    assert west["median_close_hours"] == pytest.approx((30 + 102) / 2)
    assert (west["satisfaction"], west["ratings"], west["satisfaction_score"]) == (4.0, 2, 75.0)
    assert west["training_score"] == 90.0
    performance = 100 * (0.5 + 1 + 1 + 1 + 1 + (1 - 1 / 3) + 0.5) / 7
    assert west["performance"] == pytest.approx(performance, abs=0.01)
    assert west["total"] == pytest.approx(0.5 * performance + 0.2 * 90 + 0.3 * 75, abs=0.01)
    assert east["on_time_registration"] == 1.0 and east["accurate_dispatch"] == 0.0  # D was reassigned
    assert east["on_time_handling"] is None and east["closure"] == 0.0
    assert east["performance"] == pytest.approx(100 * (1 + 0 + 1 + 0) / 4)
    assert east["training_score"] == 0.0 and east["satisfaction_score"] is None
    assert east["total"] == pytest.approx((0.5 * 50 + 0.2 * 0) / 0.7, abs=0.01)
    assert (west["rank"], east["rank"]) == (1, 2)


def test_worker_assessment_counts_the_steps_taken_while_they_held_the_case(db, month):
    report = assessment(db, since=date(2026, 11, 1), until=date(2026, 11, 30), by="worker", scope=WHOLE, subdistrict=SD)
    west, community = _by(report, "staff_id", month["west"]), _by(report, "staff_id", month["community"])
    # the west lead held A, B and (reassigned to them) D: A handled and closed on time; B escalated
    # away from them, which counts against them
    assert (west["cases_handled"], west["on_time_handling"], west["on_time_closure"]) == (1, 1.0, 1.0)
    assert (west["reopen"], west["escalation"], west["satisfaction"]) == (0.0, round(1 / 3, 4), 5.0)
    performance = 100 * (1 + 1 + 1 + (1 - round(1 / 3, 4))) / 4
    assert west["performance"] == pytest.approx(performance, abs=0.01)
    assert west["total"] == pytest.approx(0.5 * performance + 0.2 * 90 + 0.3 * 100, abs=0.01)
    # the community lead: B handled twice on time, one failed check, rated 3, no training record
    assert (community["cases_handled"], community["reopen"], community["satisfaction"]) == (2, 0.5, 3.0)
    assert community["training_score"] is None
    assert community["total"] == pytest.approx((0.5 * 87.5 + 0.3 * 50) / 0.8, abs=0.01)


def test_weekly_summary_of_the_hand_built_weeks(db, month):
    week = weekly(db, SD, "2026-W46", at(30, 9), None)  # 9–15 Nov: B's week
    west = next(u for u in weekly(db, SD + "001", "2026-W46", at(30, 9), None)["units"]["items"] if u["code"] == SD + "001001")
    assert week["total"] == {"new": 1, "closed": 1, "rejected": 0, "open": 0, "overdue": 2, "escalated": 1}
    # overdue: B's registration (due 9 Nov 14:30) and its handling (due 11 Nov 16:10), both missed that week
    assert west == {"code": SD + "001001", "name": "网格001001", **week["total"]}
    last = weekly(db, SD, "2026-W48", at(30, 9), None)  # 23–29 Nov: D reported and still open
    # D's handling deadline (16 working hours from Monday 09:40: Wednesday 10:40) has passed
    assert last["total"] == {"new": 1, "closed": 0, "rejected": 0, "open": 1, "overdue": 1, "escalated": 0}
    assert weekly(db, SD, "2026-W47", at(30, 9), None)["total"]["rejected"] == 1  # C, 16 Nov
    assert weekly(db, SD, "2026-W48", at(25, 10, 30), None)["total"]["overdue"] == 0
    urban = next(r for r in last["by_category"] if r["code"] == "urban_management")
    assert urban["new"] == 1 and sum(r["new"] for r in last["by_category"]) == 1


def test_week_bounds_are_local_iso_weeks():
    label, start, end = week_bounds("2026-W48", at(30, 9))
    assert (label, start, end) == ("2026-W48", at(23, 0), at(30, 0))
    assert week_bounds(None, at(27, 9))[0] == "2026-W47"  # the last full week
    assert week_bounds("2020-W53", at(27, 9))[0] == "2020-W53"


def raw_weekly(demo, start, end, now):
    """The same figures straight from the generated frames, by a different route."""
    cases = demo["cases"]
    events = demo["case_events"]
    reported = pd.to_datetime(cases["reported_at"])
    ev_at = pd.to_datetime(events["at"])
    terminal = events[(events["kind"] == "transition") & events["to_status"].isin(["closed", "rejected", "duplicate"])]
    finished = terminal.groupby("case_id")["at"].min().pipe(pd.to_datetime)
    fin = cases["id"].map(finished)
    due = pd.to_datetime(events["due_at"])
    case_due = pd.to_datetime(cases["due_at"])
    open_now = ~cases["status"].isin(["closed", "rejected", "duplicate"])
    return {
        "new": int(((reported >= start) & (reported < end)).sum()),
        "closed": int(((events["to_status"] == "closed") & (events["kind"] == "transition") & (ev_at >= start)
                       & (ev_at < end)).sum()),
        "rejected": int((events["to_status"].isin(["rejected", "duplicate"]) & (ev_at >= start)
                         & (ev_at < end)).sum()),
        "open": int(((reported < end) & (fin.isna() | (fin >= end))).sum()),
        "overdue": int(((events["on_time"] == False) & (due >= start) & (due < end)).sum())  # noqa: E712
        + int((open_now & (case_due >= start) & (case_due < end) & (case_due < now)).sum()),
        "escalated": int(events[(events["kind"] == "escalation") & (ev_at >= start) & (ev_at < end)]["case_id"]
                         .nunique()),
    }


@pytest.mark.parametrize("week", ["2026-W40", "2026-W44"])
def test_weekly_figures_equal_the_raw_counts_of_the_demo(db, demo, week):
    subdistrict = demo["subdistricts"]["code"].iloc[0]
    now = datetime(2026, 11, 1, tzinfo=Z)
    report = weekly(db, subdistrict, week, now, None)
    _, start, end = week_bounds(week, now)
    assert report["total"] == raw_weekly(demo, start, end, now)
    assert report["total"]["new"] > 50 and report["total"]["closed"] > 50
    assert sum(u["new"] for u in report["units"]["items"]) == report["total"]["new"]
    visits = pd.to_datetime(demo["visits"]["visited_at"])
    in_week = demo["visits"][(visits >= start) & (visits < end)]
    assert report["collection"]["visits"] == int((in_week["kind"] == "visit").sum())
    assert report["collection"]["info_checks"] == int((in_week["kind"] == "info_check").sum())
    assert report["hotspots"], "the demo's case clusters show as hot spots"
    assert all(h["cases"] >= 3 and h["cases"] >= 2 * h["previous_weekly_mean"] for h in report["hotspots"])


def test_weekly_exports_over_http(http, demo):
    subdistrict = demo["subdistricts"]["code"].iloc[0]
    query = {"scope": subdistrict, "week": "2026-W43"}
    book = load_workbook(io.BytesIO(http.get("/reports/weekly", params={**query, "format": "xlsx"}).content))
    assert book.sheetnames[:2] == ["分类统计", "下级单位"]
    sheet = book["分类统计"]
    assert [c.value for c in sheet[1]] == ["类别编码", "类别", "新增", "结案", "不予立案及重复", "未结", "超期环节", "上报上级"]
    as_json = http.get("/reports/weekly", params=query).json()
    assert sheet.cell(row=sheet.max_row, column=3).value == as_json["total"]["new"]
    pdf = http.get("/reports/weekly", params={**query, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    page = http.get("/reports/weekly/page", params=query)
    assert "网格化管理工作周报" in page.text and str(as_json["total"]["new"]) in page.text
    assert http.get("/reports/weekly", params={"week": "2026-W99"}).status_code == 422
    assert http.get("/reports/weekly", params={"scope": "12345"}).status_code == 422
    assert http.get("/reports/weekly", params={"scope": "999999999"}).status_code == 404


def test_assessment_exports_over_http(http, demo):
    query = {"from": "2026-10-01", "to": "2026-10-31", "by": "worker"}
    report = http.get("/reports/assessment", params=query).json()
    assert report["items"] and report["items"][0]["rank"] == 1
    csv_text = http.get("/reports/assessment", params={**query, "format": "csv"}).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("排名,人员编号,姓名")
    assert len(csv_text.splitlines()) == len(report["items"]) + 1
    book = load_workbook(io.BytesIO(http.get("/reports/assessment", params={**query, "format": "xlsx"}).content))
    assert book["考核排名"]["A1"].value == "排名"
    assert http.get("/reports/assessment", params={"from": "2026-11-01", "to": "2026-10-01"}).status_code == 422


def test_report_commands(database_url, demo, tmp_path):
    env = {**os.environ, "GISGRID_DATABASE_URL": database_url}
    subdistrict = demo["subdistricts"]["code"].iloc[0]
    text_out = subprocess.run([GISGRID, "report", "weekly", "--scope", subdistrict, "--week", "2026-W43"],
                              capture_output=True, text=True, env=env, timeout=120)
    assert text_out.returncode == 0, text_out.stderr
    assert "合计" in text_out.stdout and "2026-W43" in text_out.stdout
    target = tmp_path / "a.xlsx"
    made = subprocess.run([GISGRID, "report", "assessment", "--from", "2026-10-01", "--to", "2026-10-31",
                           "--format", "xlsx", "--out", str(target)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    assert load_workbook(target)["考核排名"]["B1"].value == "网格编码"
    bad = subprocess.run([GISGRID, "report", "weekly", "--week", "last"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 2 and "YYYY-Www" in bad.stderr


def test_the_weekly_page_speaks_english_on_request_and_picks_its_week(http, demo):
    subdistrict = demo["subdistricts"]["code"].iloc[0]
    query = {"scope": subdistrict, "week": "2026-W43"}
    english = http.get("/reports/weekly/page", params={**query, "lang": "en"})
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert "Weekly grid management report" in english.text and "网格化管理工作周报" not in english.text
    assert "Overdue steps" in english.text and "超期环节" not in english.text
    chinese = http.get("/reports/weekly/page", params=query).text
    assert "Weekly grid management report" not in chinese and "Overdue steps" not in chinese
    assert 'type="week" name="week" value="2026-W43"' in chinese
    assert f"?week=2026-W42&amp;scope={subdistrict}&amp;lang=zh" in chinese and f"?week=2026-W44&amp;scope={subdistrict}" in chinese
    assert http.get("/reports/weekly/page", params={**query, "lang": "fr"}).status_code == 422
