"""The case loop on hand-built grids: every transition allowed or refused, routing to the right
lead (also after a boundary change), escalation by hand and by deadline on a clock the test
moves, deadlines in working hours, duplicates, reopening, closure with the reporter's rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from shapely import Point
from shapely.geometry import mapping
from sqlalchemy import text

from gisgrid.cases import workflow
from gisgrid.cases.calendar import work_calendar
from gisgrid.cases.schemas import CaseReport, Location, Transition
from gisgrid.core.dependencies import Actor
from gisgrid.core.enums import CaseStatus as S
from gisgrid.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gisgrid.grids import operations
from gisgrid.grids.editing import EditRequest
from gisgrid.staff.models import LeadingGroupMember, Staff

from builders import Territory, lonlat, metres_box

SD = "110101077"
BEIJING = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=BEIJING)
WORKER = Actor("网格员甲", None)
CHECKER = Actor("网格督查员乙", None)  # checks and closes: never the one who handled the case


@pytest.fixture
def town(db):
    """An L1 zone of two L2 grids (west 0–200 m, east 200–400 m), each with its lead, and a
    leading group with a head."""
    t = Territory(db, SD, metres_box(0, 0, 400, 200))
    t.grid("001", metres_box(0, 0, 400, 200))
    t.grid("001001", metres_box(0, 0, 200, 200))
    t.grid("001002", metres_box(200, 0, 400, 200))
    head = Staff(name="街道主任", sex="F", phone="010-00000000")
    db.add(head)
    db.flush()
    db.add(LeadingGroupMember(subdistrict_code=SD, staff_id=head.id, is_head=True))
    db.flush()
    t.head = head.id
    t.leads = dict(db.execute(text("""SELECT g.code, a.staff_id FROM grids g JOIN grid_assignments a
                                      ON a.grid_id = g.id AND a.role = 'grid_lead' WHERE g.subdistrict_code = :sd"""),
                              {"sd": SD}).all())
    return t


def report(x=150.0, y=50.0, **extra) -> CaseReport:
    point = lonlat(Point(x, y))
    body = {"category": "urban_management", "subtype": "urban_management.city_appearance", "title": "垃圾堆放",
            "location": Location(lon=point.x, lat=point.y), "reporter_name": "网格员甲"} | extra
    return CaseReport(**body)


def new_case(db, now=MONDAY_9, **extra) -> dict:
    case, created = workflow.intake(db, report(**extra), actor=WORKER, now=now)
    assert created
    return case


def step(db, case_no, to, now=MONDAY_9, **extra) -> dict:
    """A step by the worker, or by the checker where the handler may not act (check, close, reopen)."""
    status = db.execute(text("SELECT status FROM cases WHERE case_no = :n"), {"n": case_no}).scalar_one()
    checking = to in (S.VERIFIED, S.CLOSED) or status == "verified"
    return workflow.transition(db, case_no, Transition(to=to, **extra), actor=CHECKER if checking else WORKER,
                               now=now)


PATHS = {
    S.REPORTED: [],
    S.REGISTERED: [S.REGISTERED],
    S.REJECTED: [S.REJECTED],
    S.DUPLICATE: [S.DUPLICATE],
    S.DISPATCHED: [S.REGISTERED, S.DISPATCHED],
    S.IN_PROGRESS: [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS],
    S.HANDLED: [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED],
    S.VERIFIED: [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED, S.VERIFIED],
    S.CLOSED: [S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED, S.VERIFIED, S.CLOSED],
}


def extras(db, to: S, original: str) -> dict:
    """What each target needs: a note for refusals, the original for duplicates."""
    if to is S.DUPLICATE:
        return {"duplicate_of": original, "note": "同一堆垃圾"}
    if to is S.REJECTED:
        return {"note": "不属于受理范围"}
    return {"note": "核查未通过"} if to is S.DISPATCHED else {}


def walk(db, case_no, path, original):
    for to in path:
        step(db, case_no, to, **extras(db, to, original))


def test_intake_keeps_the_grids_and_starts_the_register_deadline(db, town):
    case = new_case(db)
    assert case["status"] == "reported"
    assert case["grids"] == {"l1": SD + "001", "l2": SD + "001001", "l3": None}
    assert case["case_no"].startswith(f"{SD}-2026-") and len(case["tracking_code"]) == 10
    # 4 working hours from Monday 09:00: 09:00–12:00 is 3 h, then 1 h from 13:30
    assert datetime.fromisoformat(case["due_at"]) == MONDAY_9.replace(hour=14, minute=30)
    second = new_case(db)
    assert int(second["case_no"][-6:]) == int(case["case_no"][-6:]) + 1
    assert [e["to_status"] for e in case["events"]] == ["reported"]


@pytest.mark.parametrize("start", list(S))
def test_every_transition_is_allowed_or_refused_naming_the_allowed(db, town, start):
    original = new_case(db)["case_no"]
    case_no = new_case(db)["case_no"]
    walk(db, case_no, PATHS[start], original)
    for target in S:
        savepoint = db.begin_nested()
        try:
            if target in workflow.ALLOWED[start]:
                moved = step(db, case_no, target, **extras(db, target, original))
                assert moved["status"] == target.value
                assert moved["events"][-1]["from_status"] == start.value
            else:
                with pytest.raises(Conflict) as refused:
                    step(db, case_no, target, **extras(db, target, original))
                assert refused.value.detail["allowed"] == [s.value for s in workflow.ALLOWED[start]]
                assert refused.value.detail["status"] == start.value
        finally:
            savepoint.rollback()
    assert workflow.detail(db, case_no=case_no)["status"] == start.value


def test_dispatch_goes_to_the_lead_of_the_l2_grid_holding_the_place(db, town):
    west, east = new_case(db, x=150), new_case(db, x=300)
    for case in (west, east):
        step(db, case["case_no"], S.REGISTERED)
    assert step(db, west["case_no"], S.DISPATCHED)["handling"]["staff_id"] == town.leads[SD + "001001"]
    assert step(db, east["case_no"], S.DISPATCHED)["handling"]["staff_id"] == town.leads[SD + "001002"]


def test_routing_follows_a_boundary_change_while_the_case_keeps_its_grid(db, town):
    case = new_case(db, x=170)
    step(db, case["case_no"], S.REGISTERED)
    operations.transfer(db, EditRequest(actor="t", reason="道路调整", versions={SD + "001001": 1, SD + "001002": 1}),
                        SD + "001001", to=SD + "001002", area=mapping(lonlat(metres_box(150, 0, 200, 200))))
    moved = step(db, case["case_no"], S.DISPATCHED)
    assert moved["handling"]["staff_id"] == town.leads[SD + "001002"]
    assert moved["handling"]["grid"] == SD + "001002"
    assert moved["grids"]["l2"] == SD + "001001"  # where it was reported stays on record


def test_an_explicit_assignee_overrides_routing_and_must_exist(db, town):
    case = new_case(db)
    step(db, case["case_no"], S.REGISTERED)
    with pytest.raises(InvalidInput, match="no active staff member"):
        step(db, case["case_no"], S.DISPATCHED, assignee_staff_id=999999)
    moved = step(db, case["case_no"], S.DISPATCHED, assignee_staff_id=town.leads[SD + "001002"])
    assert moved["handling"]["staff_id"] == town.leads[SD + "001002"]


def test_escalation_by_hand_climbs_to_the_leading_group_and_stops(db, town):
    case = new_case(db)
    walk(db, case["case_no"], PATHS[S.DISPATCHED], None)
    up = workflow.escalate(db, case["case_no"], actor=WORKER, now=MONDAY_9, note="需要社区协调")
    assert (up["handling"]["level"], up["handling"]["staff_id"]) == (1, town.leads[SD + "001"])
    top = workflow.escalate(db, case["case_no"], actor=WORKER, now=MONDAY_9, note="需要街道协调")
    assert (top["handling"]["level"], top["handling"]["staff_id"]) == (0, town.head)
    assert top["escalations"] == 2 and top["status"] == "dispatched"
    with pytest.raises(Conflict, match="leading group"):
        workflow.escalate(db, case["case_no"], actor=WORKER, now=MONDAY_9, note="再上报")
    assert [e["kind"] for e in top["events"]][-2:] == ["escalation", "escalation"]


def test_a_case_not_yet_handled_by_anyone_cannot_be_escalated(db, town):
    case = new_case(db)
    with pytest.raises(Conflict, match="cannot be escalated"):
        workflow.escalate(db, case["case_no"], actor=WORKER, now=MONDAY_9, note="x")


def test_the_deadline_escalates_a_case_on_the_clock_not_before(db, town):
    case = new_case(db)
    walk(db, case["case_no"], PATHS[S.DISPATCHED], None)
    due = datetime.fromisoformat(workflow.detail(db, case_no=case["case_no"])["due_at"])
    # 16 working hours from Monday 09:00: 7 h on Monday, 7.5 h on Tuesday, 1.5 h from 08:30 Wednesday
    assert due == MONDAY_9.replace(day=25, hour=10, minute=0)
    assert workflow.escalate_overdue(db, due - timedelta(minutes=1), subdistrict=SD) == []
    assert workflow.escalate_overdue(db, due + timedelta(minutes=1), subdistrict=SD) == [case["case_no"]]
    after = workflow.detail(db, case_no=case["case_no"], now=due + timedelta(minutes=1))
    assert after["handling"]["level"] == 1 and not after["overdue"]
    event = after["events"][-1]
    assert event["kind"] == "escalation" and event["on_time"] is False
    assert datetime.fromisoformat(event["due_at"]) == due
    # the community's fresh deadline passes too: on to the leading group, and no further
    later = datetime.fromisoformat(after["due_at"]) + timedelta(minutes=1)
    assert workflow.escalate_overdue(db, later, subdistrict=SD) == [case["case_no"]]
    assert workflow.escalate_overdue(db, later + timedelta(days=30), subdistrict=SD) == []
    final = workflow.detail(db, case_no=case["case_no"], now=later + timedelta(days=30))
    assert final["handling"]["level"] == 0 and final["overdue"]


def test_each_stage_is_judged_against_its_own_deadline(db, town):
    case = new_case(db)
    late = MONDAY_9 + timedelta(days=1)  # the 4 h register limit ends Monday 14:30
    step(db, case["case_no"], S.REGISTERED, now=late)
    moved = step(db, case["case_no"], S.DISPATCHED, now=late + timedelta(minutes=5))
    registered, dispatched = moved["events"][1], moved["events"][2]
    assert registered["on_time"] is False and datetime.fromisoformat(registered["due_at"]) == \
        MONDAY_9.replace(hour=14, minute=30)
    assert dispatched["on_time"] is True  # 2 h to dispatch from Tuesday 09:00
    # in_progress stays in the handle stage: its step judges nothing
    started = step(db, case["case_no"], S.IN_PROGRESS, now=late + timedelta(minutes=10))
    assert started["events"][-1]["on_time"] is None


def test_an_urgent_subtype_has_its_own_limit_and_new_subtypes_are_data(db, town):
    urgent = new_case(db, subtype="urban_management.emergency", title="井盖缺失")
    assert datetime.fromisoformat(urgent["due_at"]) == MONDAY_9 + timedelta(minutes=30)
    from gisgrid.cases import service

    service.put_subtype(db, "urban_management.shared_bikes", parent="urban_management", name_zh="共享单车乱停",
                        name_en="Shared bikes parked badly", deadline_hours={"register": 1, "handle": 3})
    bikes = new_case(db, subtype="urban_management.shared_bikes", title="单车堵门")
    assert datetime.fromisoformat(bikes["due_at"]) == MONDAY_9 + timedelta(hours=1)
    step(db, bikes["case_no"], S.REGISTERED)
    handled_by = datetime.fromisoformat(step(db, bikes["case_no"], S.DISPATCHED)["due_at"])
    assert handled_by == MONDAY_9 + timedelta(hours=3)
    with pytest.raises(InvalidInput, match="sub-type code"):
        service.put_subtype(db, "bikes", parent="urban_management", name_zh="x", name_en="x", deadline_hours={})


def test_duplicates_need_the_original_and_refusals_need_a_reason(db, town):
    first, second = new_case(db), new_case(db)
    with pytest.raises(InvalidInput, match="names the case it repeats"):
        step(db, second["case_no"], S.DUPLICATE, note="重复")
    with pytest.raises(InvalidInput, match="no other case"):
        step(db, second["case_no"], S.DUPLICATE, duplicate_of=second["case_no"], note="重复")
    with pytest.raises(InvalidInput, match="note saying why"):
        step(db, second["case_no"], S.REJECTED)
    marked = step(db, second["case_no"], S.DUPLICATE, duplicate_of=first["case_no"], note="同一处")
    assert marked["duplicate_of"] == first["case_no"] and marked["due_at"] is None


def test_a_failed_check_reopens_and_closure_takes_the_reporters_rating(db, town):
    case = new_case(db)
    walk(db, case["case_no"], PATHS[S.VERIFIED], None)
    with pytest.raises(InvalidInput, match="feedback and satisfaction come at closure"):
        step(db, case["case_no"], S.DISPATCHED, note="未清理干净", satisfaction=2)
    reopened = step(db, case["case_no"], S.DISPATCHED, note="未清理干净")
    assert reopened["reopens"] == 1 and reopened["handling"]["staff_id"] == town.leads[SD + "001001"]
    walk(db, case["case_no"], [S.IN_PROGRESS, S.HANDLED, S.VERIFIED], None)
    closed = step(db, case["case_no"], S.CLOSED, feedback="已清理，满意", satisfaction=5)
    assert (closed["status"], closed["satisfaction"], closed["feedback"]) == ("closed", 5, "已清理，满意")
    assert closed["closed_at"] is not None and closed["allowed"] == []
    with pytest.raises(Conflict, match="rated already"):
        workflow.rate(db, case["tracking_code"], 4, None, MONDAY_9)


def test_the_reporter_rates_a_closed_case_once_by_tracking_code(db, town):
    case = new_case(db)
    walk(db, case["case_no"], PATHS[S.VERIFIED], None)
    with pytest.raises(Conflict, match="once it is closed"):
        workflow.rate(db, case["tracking_code"], 4, "还行", MONDAY_9)
    step(db, case["case_no"], S.CLOSED)
    workflow.rate(db, case["tracking_code"], 4, "还行", MONDAY_9)
    view = workflow.public_view(db, case["tracking_code"], MONDAY_9)
    assert (view["satisfaction"], view["can_rate"]) == (4, False)
    assert [s["status"] for s in view["steps"]] == ["reported", *[s.value for s in PATHS[S.CLOSED]]]
    assert "staff" not in str(view) and "网格员甲" not in str(view)  # no staff names for the public
    with pytest.raises(NotFound):
        workflow.public_view(db, "ABCDEFGHJK", MONDAY_9)


def test_places_resolve_from_a_building_or_an_address_and_bad_ones_are_refused(db, town):
    building = town.building(120, 120, households=2)
    by_building = new_case(db, location=None, building_id=building.id)
    by_address = new_case(db, location=None, address=building.address)
    assert by_building["building_id"] == by_address["building_id"] == building.id
    assert by_building["grids"]["l2"] == SD + "001001"
    with pytest.raises(InvalidInput, match="matches no building"):
        new_case(db, location=None, address="不存在的地址")
    outside = lonlat(Point(5000, 5000))
    with pytest.raises(InvalidInput, match="outside every sub-district"):
        new_case(db, location=Location(lon=outside.x, lat=outside.y))
    with pytest.raises(InvalidInput, match="unknown category"):
        new_case(db, category="weather", subtype=None)
    with pytest.raises(InvalidInput, match="not a sub-type"):
        new_case(db, subtype="public_safety.fire_safety")


def test_gcj02_input_lands_where_it_should(db, town):
    from gisgrid.core.crs import wgs84_to_gcj02

    point = lonlat(Point(150, 50))
    lon, lat = wgs84_to_gcj02([point.x], [point.y])
    case = new_case(db, location=Location(lon=float(lon[0]), lat=float(lat[0]), crs="GCJ-02"))
    assert abs(case["location"]["lon"] - point.x) < 1e-5 and abs(case["location"]["lat"] - point.y) < 1e-5


def test_working_hours_skip_nights_weekends_and_holidays():
    cal = work_calendar()
    friday_5pm = datetime(2026, 11, 27, 17, 0, tzinfo=BEIJING)
    assert cal.add(friday_5pm, 1) == datetime(2026, 11, 30, 9, 0, tzinfo=BEIJING)
    assert cal.add(friday_5pm.astimezone(UTC), 0.5).astimezone(BEIJING) == friday_5pm.replace(minute=30)
    from dataclasses import replace

    holiday = replace(cal, holidays=frozenset({datetime(2026, 11, 30).date()}))
    assert holiday.add(friday_5pm, 1) == datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING)


def test_dispatch_on_the_demo_goes_to_the_lead_of_the_grid_holding_each_place(db, demo):
    """Checked against the generated data with shapely: the L2 grid that covers the point, and
    the lead the generator assigned to it."""
    grids = demo["grids"]
    l2 = grids[(grids["level"] == 2)].reset_index(drop=True)
    assignments = demo["grid_assignments"]
    lead_of = dict(assignments[assignments["role"] == "grid_lead"][["grid_id", "staff_id"]].itertuples(index=False))
    tree = shapely.STRtree(l2["geom"].to_numpy())
    rng = np.random.default_rng(7)
    buildings = demo["buildings"].sample(25, random_state=7)
    checked = 0
    for geom in buildings["geom"]:
        point = Point(geom.x + rng.uniform(-1e-4, 1e-4), geom.y + rng.uniform(-1e-4, 1e-4))
        holders = tree.query(point, predicate="covered_by")
        if len(holders) != 1:  # off every grid, or on a shared border: the rule picks by code, tested elsewhere
            continue
        case, _ = workflow.intake(db, report().model_copy(update={"location": Location(lon=point.x, lat=point.y)}),
                                  actor=WORKER, now=MONDAY_9)
        step(db, case["case_no"], S.REGISTERED)
        moved = step(db, case["case_no"], S.DISPATCHED)
        grid = l2.iloc[int(holders[0])]
        assert moved["grids"]["l2"] == grid["code"]
        assert (moved["handling"]["level"], moved["handling"]["grid"], moved["handling"]["staff_id"]) == \
            (2, grid["code"], lead_of[grid["id"]])
        checked += 1
    assert checked >= 15


def test_a_grid_worker_neither_registers_nor_dispatches_and_the_handler_does_not_close(db, town):
    """Separation of duties: intake and dispatch by the supervisor or the command centre, the check
    and the closing by someone other than the handler; each refusal is a 403 naming its rule."""
    worker = Actor("网格员丁", town.leads[SD + "001001"], "grid_worker")
    case_no = new_case(db)["case_no"]
    for to in (S.REGISTERED, S.REJECTED):
        with pytest.raises(Forbidden) as refused:
            workflow.transition(db, case_no, Transition(to=to, note="x"), actor=worker, now=MONDAY_9)
        assert refused.value.status == 403 and refused.value.detail["rule"] == "dispatch_by_supervisor"
    step(db, case_no, S.REGISTERED)
    with pytest.raises(Forbidden):
        workflow.transition(db, case_no, Transition(to=S.DISPATCHED), actor=worker, now=MONDAY_9)
    step(db, case_no, S.DISPATCHED)
    with pytest.raises(Forbidden):
        workflow.reassign(db, case_no, town.leads[SD + "001002"], actor=worker, now=MONDAY_9, note="x")
    for to in (S.IN_PROGRESS, S.HANDLED):
        workflow.transition(db, case_no, Transition(to=to), actor=worker, now=MONDAY_9)
    same_person = Actor("另一个名字", worker.staff_id)  # the same staff member under another name
    with pytest.raises(Forbidden) as refused:
        workflow.transition(db, case_no, Transition(to=S.VERIFIED), actor=same_person, now=MONDAY_9)
    assert refused.value.detail["rule"] == "check_by_another"
    other_worker = Actor("网格员戊", town.leads[SD + "001002"], "grid_worker")
    workflow.transition(db, case_no, Transition(to=S.VERIFIED), actor=other_worker, now=MONDAY_9)
    with pytest.raises(Forbidden):
        workflow.transition(db, case_no, Transition(to=S.CLOSED), actor=worker, now=MONDAY_9)
    closed = workflow.transition(db, case_no, Transition(to=S.CLOSED), actor=CHECKER, now=MONDAY_9)
    assert closed["status"] == "closed"
