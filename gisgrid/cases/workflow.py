"""The closed loop of a case (解决一件注销一件): intake, the allowed transitions, routing to the
responsible lead, escalation up the grid tree, and the deadline of every stage.

The seven steps of digital urban management are the states; a transition not in ``ALLOWED``
is refused naming the ones that are. Each step is an event with who, when, a note and, for
the stage it ends, its deadline and whether it was met, so the assessment rates are counts
over events. Nothing here commits: the route or command does, so a failure leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gisgrid.cases.calendar import work_calendar
from gisgrid.cases.results import CaseDetail, ReportedCase
from gisgrid.cases.schemas import CaseReport, Transition
from gisgrid.core.dependencies import Actor
from gisgrid.core.enums import CaseStatus as S
from gisgrid.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gisgrid.core.settings import get_settings
from gisgrid.core.sql import identifier

ALLOWED: dict[S, tuple[S, ...]] = {
    S.REPORTED: (S.REGISTERED, S.REJECTED, S.DUPLICATE),
    S.REGISTERED: (S.DISPATCHED,),
    S.DISPATCHED: (S.IN_PROGRESS,),
    S.IN_PROGRESS: (S.HANDLED,),
    S.HANDLED: (S.VERIFIED,),
    S.VERIFIED: (S.CLOSED, S.DISPATCHED),  # closed when the check passes, reopened when it fails
    S.CLOSED: (), S.REJECTED: (), S.DUPLICATE: (),
}
# The stage a status waits in, and so the deadline that runs while it does.
STAGE = {S.REPORTED: "register", S.REGISTERED: "dispatch", S.DISPATCHED: "handle", S.IN_PROGRESS: "handle",
         S.HANDLED: "close", S.VERIFIED: "close"}
# Separation of duties (GB/T 30428): intake decisions and dispatch are the supervisor's or the
# command centre's, not a grid worker's; the check and the closing are never the handler's own.
SUPERVISOR_STEPS = (S.REGISTERED, S.REJECTED, S.DUPLICATE, S.DISPATCHED)
CHECK_STEPS = (S.VERIFIED, S.CLOSED)
ESCALATABLE = (S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS)
LEVEL_NAMES = {2: "网格 / grid", 1: "社区 / community", 0: "街道领导小组 / the sub-district's leading group"}
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone


def deadline_hours(session: Session, category: str, subtype: str | None, stage: str) -> float:
    """Working hours for ``stage``: the sub-type's row, else its category's, else the settings."""
    hours = session.execute(text(f"""
        SELECT coalesce(s.{stage}_hours, c.{stage}_hours) FROM case_categories c
        LEFT JOIN case_categories s ON s.code = :subtype WHERE c.code = :category"""),
        {"category": category, "subtype": subtype}).scalar()
    return float(hours) if hours is not None else get_settings().case_deadlines[stage]


def _due(session: Session, case: dict, status: S, now: datetime) -> datetime | None:
    stage = STAGE.get(status)
    if stage is None:
        return None
    return work_calendar().add(now, deadline_hours(session, case["category_code"], case["subtype_code"], stage))


# --- routing ------------------------------------------------------------------------------------

def responsible(session: Session, case: dict, level: int) -> tuple[int, int | None, int | None]:
    """(level, staff id, grid id) of who handles a case at ``level`` (2 grid, 1 community, 0 the
    leading group), found from where the case is *now* (boundaries may have moved since it was
    reported). A level without a grid or a lead there passes it up to the next one."""
    for at in range(level, 0, -1):
        row = session.execute(text("""
            SELECT g.id, lead.staff_id FROM grids g JOIN grid_leads lead ON lead.grid_id = g.id AND lead.active
            WHERE g.level = :level AND g.retired_at IS NULL AND g.subdistrict_code = :sd
              AND ST_Intersects(g.geom, (SELECT geom FROM cases WHERE id = :case))
            ORDER BY g.code LIMIT 1"""), {"level": at, "sd": case["subdistrict_code"], "case": case["id"]}).first()
        if row is not None:
            return at, row.staff_id, row.id
    head = session.execute(text("""
        SELECT m.staff_id FROM leading_group_members m JOIN staff s ON s.id = m.staff_id AND s.active
        WHERE m.subdistrict_code = :sd ORDER BY m.is_head DESC, m.staff_id LIMIT 1"""),
        {"sd": case["subdistrict_code"]}).scalar()
    return 0, head, None


def _staff_exists(session: Session, staff_id: int, where: str) -> None:
    if session.execute(text("SELECT 1 FROM staff WHERE id = :id AND active"), {"id": staff_id}).first() is None:
        raise InvalidInput(f"没有在岗工作人员 {staff_id} / no active staff member {staff_id}", where=where)


# --- intake -------------------------------------------------------------------------------------

def _category(session: Session, category: str, subtype: str | None) -> None:
    row = session.execute(text("SELECT parent_code FROM case_categories WHERE code = :c"), {"c": category}).first()
    if row is None or row.parent_code is not None:
        raise InvalidInput(f"未知事件大类 {category!r} / unknown category {category!r}: see /case-categories",
                           where="category")
    if subtype is not None:
        parent = session.execute(text("SELECT parent_code FROM case_categories WHERE code = :c"),
                                 {"c": subtype}).scalar()
        if parent != category:
            raise InvalidInput(f"{subtype!r} 不是 {category} 的小类 / {subtype!r} is not a sub-type of {category}",
                               where="subtype")


def _place(session: Session, report: CaseReport) -> tuple[float, float, int | None, str | None]:
    """lon, lat (WGS84), building id and address of what the report points at."""
    if report.location is not None:
        lon, lat = report.location.wgs84()
        return lon, lat, None, report.address
    if report.building_id is not None:
        row = session.execute(text("SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, address FROM buildings "
                                   "WHERE id = :id"), {"id": report.building_id}).first()
        if row is None:
            raise InvalidInput(f"没有楼栋 {report.building_id} / no building {report.building_id}",
                               where="building_id")
        return row.lon, row.lat, report.building_id, report.address or row.address
    rows = session.execute(text("SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM buildings "
                                "WHERE address = :a LIMIT 2"), {"a": report.address.strip()}).all()
    if len(rows) != 1:
        found = "找不到" if not rows else "对应多栋楼"
        raise InvalidInput(f"地址{found}：{report.address!r}；请在地图上标点或填写楼栋 / the address "
                           f"{'matches no building' if not rows else 'matches several buildings'}: pin the place "
                           "on the map or give building_id", where="address")
    return rows[0].lon, rows[0].lat, rows[0].id, report.address.strip()


def _digest(report: CaseReport, actor: Actor) -> str:
    body = {**report.model_dump(mode="json"), "actor": [actor.name, actor.staff_id]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _case_number(session: Session, subdistrict: str, year: int) -> str:
    """The next number of the sub-district's year. The counter row's lock orders concurrent
    reports; the row is seeded from the numbers already issued only when it is first made."""
    params = {"sd": subdistrict, "year": year}
    serial = session.execute(text("""UPDATE case_numbers SET last_serial = last_serial + 1
                                     WHERE subdistrict_code = :sd AND year = :year RETURNING last_serial"""),
                             params).scalar()
    if serial is None:
        serial = session.execute(text("""
            INSERT INTO case_numbers (subdistrict_code, year, last_serial)
            VALUES (CAST(:sd AS varchar), :year,
                    1 + coalesce((SELECT max(split_part(case_no, '-', 3)::int) FROM cases
                                  WHERE subdistrict_code = CAST(:sd AS varchar) AND case_no LIKE :prefix), 0))
            ON CONFLICT (subdistrict_code, year) DO UPDATE SET last_serial = case_numbers.last_serial + 1
            RETURNING last_serial"""), {**params, "prefix": f"{subdistrict}-{year}-%"}).scalar_one()
    return f"{subdistrict}-{year}-{serial:06d}"


def intake(session: Session, report: CaseReport, *, actor: Actor, now: datetime,
           idempotency_key: str | None = None) -> tuple[ReportedCase, bool]:
    """Record a reported case at its place, in the grids (every level) that hold it now.

    Returns the case and whether it is new: a retry with the same ``Idempotency-Key`` gets the
    case the first call made (concurrent retries wait for the first one's commit, on the
    sub-district's number counter or the key's unique index), and a key reused for a different
    report is refused."""
    digest = _digest(report, actor)
    if idempotency_key is not None:
        existing = _by_key(session, idempotency_key, digest, now)
        if existing is not None:
            return existing, False
    _category(session, report.category, report.subtype)
    if report.reporter_staff_id is not None:
        _staff_exists(session, report.reporter_staff_id, "reporter_staff_id")
    lon, lat, building, address = _place(session, report)
    place = session.execute(text("""
        WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom)
        SELECT (SELECT code FROM subdistricts s, pt WHERE ST_Intersects(s.boundary, pt.geom) ORDER BY code LIMIT 1),
               (SELECT array_agg(g.id ORDER BY g.level) FILTER (WHERE g.level = 1) FROM grids g, pt
                  WHERE g.level = 1 AND g.retired_at IS NULL AND ST_Intersects(g.geom, pt.geom)),
               (SELECT array_agg(g.id ORDER BY g.code) FROM grids g, pt
                  WHERE g.level = 2 AND g.retired_at IS NULL AND ST_Intersects(g.geom, pt.geom)),
               (SELECT array_agg(g.id ORDER BY g.code) FROM grids g, pt
                  WHERE g.level = 3 AND g.retired_at IS NULL AND ST_Intersects(g.geom, pt.geom))"""),
        {"lon": lon, "lat": lat}).one()
    subdistrict, l1, l2, l3 = place
    if subdistrict is None:
        raise InvalidInput(f"({lon:.6f}, {lat:.6f}) 不在任何街道内 / the place is outside every sub-district",
                           where="location")
    status = S.REPORTED
    case = {"category_code": report.category, "subtype_code": report.subtype}
    params = {
        "sd": subdistrict, "category": report.category, "subtype": report.subtype, "title": report.title,
        "description": report.description, "reporter_name": report.reporter_name or "匿名",
        "reporter_kind": report.reporter_kind.value, "reporter_staff": report.reporter_staff_id,
        "lon": lon, "lat": lat, "l1": (l1 or [None])[0], "l2": (l2 or [None])[0], "l3": (l3 or [None])[0],
        "now": now, "due": _due(session, case, status, now), "building": building, "address": address,
        "key": idempotency_key, "digest": digest if idempotency_key else None,
        "tracking": "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(10)),
    }
    try:
        with session.begin_nested():  # a retry that loses the race on the key gives its number back
            params["case_no"] = _case_number(session, subdistrict, now.astimezone(work_calendar().zone).year)
            case_id = session.execute(text("""
                INSERT INTO cases (case_no, subdistrict_code, category_code, subtype_code, title, description,
                    reporter_name, reporter_kind, reporter_staff_id, status, geom, grid_l1_id, grid_l2_id,
                    grid_l3_id, reported_at, updated_at, due_at, building_id, address, idempotency_key,
                    request_digest, tracking_code)
                VALUES (:case_no, :sd, :category, :subtype, :title, :description, :reporter_name,
                    CAST(:reporter_kind AS reporter_kind), :reporter_staff, 'reported',
                    ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :l1, :l2, :l3, :now, :now, :due, :building,
                    :address, :key, :digest, :tracking)
                RETURNING id"""), params).scalar_one()
    except IntegrityError as exc:
        # Another request with the same key committed first (the unique index made us wait for it).
        if idempotency_key is not None and "uq_cases_idempotency_key" in str(exc.orig):
            existing = _by_key(session, idempotency_key, digest, now)
            if existing is not None:
                return existing, False
        raise
    _event(session, case_id, None, status, actor, now, report.note or "上报 / reported")
    # the tracking code goes to the reporter once, here; staff views of the case leave it out
    return {**detail(session, case_id=case_id, now=now), "tracking_code": params["tracking"]}, True


def _by_key(session: Session, key: str, digest: str, now: datetime) -> dict | None:
    row = session.execute(text("SELECT id, request_digest, tracking_code FROM cases WHERE idempotency_key = :k"),
                          {"k": key}).first()
    if row is None:
        return None
    if row.request_digest != digest:
        raise InvalidInput("这个 Idempotency-Key 已用于另一份上报 / this Idempotency-Key was used for a different "
                           "report: use a new key for a new report", where="Idempotency-Key")
    return {**detail(session, case_id=row.id, now=now), "tracking_code": row.tracking_code}  # the same reporter


# --- the loop -----------------------------------------------------------------------------------

def _event(session: Session, case_id: int, from_status: S | None, to_status: S, actor: Actor, now: datetime,
           note: str, *, kind: str = "transition", assignee: int | None = None, level: int | None = None,
           due: datetime | None = None) -> int:
    """Record a step: ``assignee``/``level`` say who has the case after it (per-worker figures
    count the steps of the cases they held), ``due`` the deadline of the stage it ended."""
    return session.execute(text("""
        INSERT INTO case_events (case_id, at, from_status, to_status, actor, note, kind, actor_staff_id,
                                 assignee_staff_id, handling_level, due_at, on_time)
        VALUES (:case, :at, CAST(:from AS case_status), CAST(:to AS case_status), :actor, :note, :kind, :actor_staff,
                :assignee, :level, :due, CASE WHEN CAST(:due AS timestamptz) IS NULL THEN NULL
                                              ELSE CAST(:at AS timestamptz) <= :due END)
        RETURNING id"""), {
        "case": case_id, "at": now, "from": from_status.value if from_status else None, "to": to_status.value,
        "actor": actor.name, "note": note, "kind": kind, "actor_staff": actor.staff_id, "assignee": assignee,
        "level": level, "due": due}).scalar_one()


def _locked(session: Session, *, case_no: str | None = None, case_id: int | None = None) -> dict:
    """The case's row, locked: transitions of one case queue instead of racing."""
    where, value = ("case_no = :v", case_no) if case_no is not None else ("id = :v", case_id)
    row = session.execute(text(f"SELECT * FROM cases WHERE {where} FOR UPDATE"), {"v": value}).mappings().first()
    if row is None:
        raise NotFound(f"没有事件 {value} / no case {value}", where="case")
    return dict(row)


# The columns a step may set (besides its status): the only names written into its UPDATE.
STEP_COLUMNS = ("updated_at", "assignee_staff_id", "handling_level", "handling_grid_id", "reopens", "closed_at",
                "feedback", "satisfaction", "duplicate_of", "due_at")


def transition(session: Session, case_no: str, change: Transition, *, actor: Actor, now: datetime,
               expected: int | None = None) -> CaseDetail:
    """Move a case one step along the loop; anything not allowed from where it is is refused,
    and so is a step from a version (``expected``, see :func:`check_version`) no longer current."""
    case = _locked(session, case_no=case_no)
    check_version(session, case, expected)
    current, target = S(case["status"]), change.to
    if target not in ALLOWED[current]:
        allowed = ", ".join(s.value for s in ALLOWED[current]) or "none: the case is finished"
        raise Conflict(f"事件 {case_no} 处于“{current.label_zh}”，不能转为“{target.label_zh}”；可转为：{allowed} / "
                       f"case {case_no} is {current.value}; it cannot become {target.value}. Allowed: {allowed}",
                       where="to", status=current.value, allowed=[s.value for s in ALLOWED[current]])
    _separate_duties(session, case, target, actor)
    duplicate_of = _check_fields(session, case, change)
    updates: dict[str, object] = {"updated_at": now}
    assignee, level, grid = case["assignee_staff_id"], case["handling_level"], case["handling_grid_id"]
    if target is S.DISPATCHED:
        if change.assignee_staff_id is not None:
            _staff_exists(session, change.assignee_staff_id, "assignee_staff_id")
            assignee, grid = change.assignee_staff_id, case["handling_grid_id"]
            level = 2 if case["handling_level"] is None else case["handling_level"]
        else:
            level, assignee, grid = _dispatched_to(session, case)
        updates |= {"assignee_staff_id": assignee, "handling_level": level, "handling_grid_id": grid}
        if assignee is None:
            raise Conflict("没有可派遣的责任人：该处无网格长，街道领导小组也无成员 / nobody to dispatch to: no grid "
                           "lead holds the place and the leading group has no members", where="assignee_staff_id")
    if current is S.VERIFIED and target is S.DISPATCHED:
        updates["reopens"] = case["reopens"] + 1
    if target is S.CLOSED:
        updates |= {"closed_at": now, "feedback": change.feedback, "satisfaction": change.satisfaction}
    if target is S.DUPLICATE:
        updates["duplicate_of"] = duplicate_of
    ended = case["due_at"] if STAGE.get(current) != STAGE.get(target) else None
    if STAGE.get(current) != STAGE.get(target):
        updates["due_at"] = _due(session, case, target, now)
    assignments = ", ".join(f"{identifier(column, STEP_COLUMNS)} = :{column}" for column in updates)
    session.execute(text(f"UPDATE cases SET {assignments}, status = CAST(:status AS case_status) WHERE id = :id"),
                    {**updates, "status": target.value, "id": case["id"]})
    event = _event(session, case["id"], current, target, actor, now, change.note or target.label_zh,
                   assignee=assignee, level=level, due=ended)
    for attachment in change.attachment_ids:
        _attach_to_event(session, case["id"], attachment, event)
    return detail(session, case_id=case["id"], now=now)


def _dispatched_to(session: Session, case: dict) -> tuple[int | None, int | None, int | None]:
    """(level, staff id, grid id) a dispatch naming nobody goes to: from registration (or with
    nobody holding the case) the lead responsible for the place; after a failed check, the holder."""
    if S(case["status"]) is S.REGISTERED or case["assignee_staff_id"] is None:
        return responsible(session, case, 2)
    return case["handling_level"], case["assignee_staff_id"], case["handling_grid_id"]


def _separate_duties(session: Session, case: dict, target: S, actor: Actor) -> None:
    """Refuse a step its actor may not take: registering, rejecting or dispatching by a grid
    worker; checking or closing (and failing a check, which reopens) by the person who handled it."""
    if actor.role == "grid_worker" and (target in SUPERVISOR_STEPS and S(case["status"]) is not S.VERIFIED):
        raise Forbidden(f"“{target.label_zh}”由上级或街道网格化服务中心办理，网格员不能操作（立案、派遣与处置分离）"
                        f" / a grid worker may not make a case {target.value}: registration and dispatch are the "
                        "supervisor's or the command centre's (separation of duties)", where="to",
                        rule="dispatch_by_supervisor")
    reopening = S(case["status"]) is S.VERIFIED and target is S.DISPATCHED
    if target not in CHECK_STEPS and not reopening:
        return
    handler = session.execute(text("""
        SELECT actor, actor_staff_id FROM case_events WHERE case_id = :id AND to_status = 'handled'
        ORDER BY at DESC, id DESC LIMIT 1"""), {"id": case["id"]}).first()
    if handler is None:
        return
    same = (actor.staff_id is not None and actor.staff_id == handler.actor_staff_id) or actor.name == handler.actor
    if same:
        step = "核查" if target is not S.CLOSED else "结案"
        raise Forbidden(f"处置人不能{step}自己处置的事件（处置与核查、结案分离）/ the person who handled the case may "
                        f"not {'check' if target is not S.CLOSED else 'close'} it: checking and closing are "
                        "someone else's (separation of duties)", where="to", rule="check_by_another")


def _check_fields(session: Session, case: dict, change: Transition) -> int | None:
    """Fields that belong to one target only are refused elsewhere, and required ones asked for.
    Returns the id of the case a duplicate repeats."""
    if change.to is not S.CLOSED and (change.feedback is not None or change.satisfaction is not None):
        raise InvalidInput("反馈与满意度在结案时填写 / feedback and satisfaction come at closure", where="satisfaction")
    if change.to is not S.DISPATCHED and change.assignee_staff_id is not None:
        raise InvalidInput("只有派遣时可指定责任人 / an assignee is named only when dispatching",
                           where="assignee_staff_id")
    if change.to is S.DUPLICATE:
        if change.duplicate_of is None:
            raise InvalidInput("重复件须说明与哪件重复 / a duplicate names the case it repeats", where="duplicate_of")
        original = session.execute(text("SELECT id FROM cases WHERE case_no = :n"), {"n": change.duplicate_of}).scalar()
        if original is None or original == case["id"]:
            raise InvalidInput(f"没有可对应的事件 {change.duplicate_of} / no other case {change.duplicate_of}",
                               where="duplicate_of")
    elif change.duplicate_of is not None:
        raise InvalidInput("只有重复件可填 duplicate_of / duplicate_of is only for duplicates", where="duplicate_of")
    if change.to in (S.REJECTED, S.DUPLICATE) or (case["status"] == S.VERIFIED and change.to is S.DISPATCHED):
        if not (change.note or "").strip():
            raise InvalidInput("不予立案、重复和核查不通过须写明理由 / rejecting, marking a duplicate and failing a "
                               "check need a note saying why", where="note")
    return original if change.to is S.DUPLICATE else None


def _may_reassign(session: Session, case: dict, actor: Actor) -> None:
    if S(case["status"]) not in (S.DISPATCHED, S.IN_PROGRESS):
        raise Conflict(f"只有已派遣的事件可改派；事件 {case['case_no']} 处于“{S(case['status']).label_zh}” / only a "
                       f"dispatched case can be reassigned; case {case['case_no']} is {case['status']}", where="case")
    _separate_duties(session, case, S.DISPATCHED, actor)


def reassign(session: Session, case_no: str, staff_id: int, *, actor: Actor, now: datetime, note: str,
             expected: int | None = None) -> CaseDetail:
    """Send a dispatched case to someone else (a wrong dispatch): counts against 准确派遣率."""
    case = _locked(session, case_no=case_no)
    check_version(session, case, expected)
    _may_reassign(session, case, actor)
    _staff_exists(session, staff_id, "assignee_staff_id")
    if staff_id == case["assignee_staff_id"]:
        raise InvalidInput("改派对象与当前责任人相同 / the case is already with that person", where="assignee_staff_id")
    session.execute(text("UPDATE cases SET assignee_staff_id = :a, status = 'dispatched', updated_at = :now "
                         "WHERE id = :id"), {"a": staff_id, "now": now, "id": case["id"]})
    _event(session, case["id"], S(case["status"]), S.DISPATCHED, actor, now, note, kind="reassignment",
           assignee=staff_id, level=case["handling_level"])
    return detail(session, case_id=case["id"], now=now)


def _escalation(session: Session, case: dict) -> tuple[int, int, int | None]:
    """(level, staff id, grid id) the case would go up to, or the Conflict saying why it cannot."""
    status = S(case["status"])
    if status not in ESCALATABLE:
        raise Conflict(f"事件处于“{status.label_zh}”，不能上报 / a case that is {status.value} cannot be escalated "
                       f"(allowed while {', '.join(s.value for s in ESCALATABLE)})", where="case")
    level = 2 if case["handling_level"] is None else case["handling_level"]
    if level == 0:
        raise Conflict("已在街道领导小组 / the case is already with the sub-district's leading group", where="case")
    new_level, assignee, grid = responsible(session, case, level - 1)
    if assignee is None:
        raise Conflict("上一级无人负责：街道领导小组尚无成员 / nobody above: the leading group has no members",
                       where="case")
    return new_level, assignee, grid


def escalate(session: Session, case_no: str | None = None, *, actor: Actor, now: datetime, note: str,
             case_id: int | None = None, automatic: bool = False, expected: int | None = None) -> CaseDetail:
    """Send a case one level up: L2 grid → community (L1) → the sub-district's leading group.
    The new handler gets a fresh handling deadline; the one that ran is judged as missed or met."""
    case = _locked(session, case_no=case_no, case_id=case_id)
    check_version(session, case, expected)
    status = S(case["status"])
    new_level, assignee, grid = _escalation(session, case)
    target = S.DISPATCHED if status is S.REGISTERED else status
    due = _due(session, case, target, now)
    session.execute(text("""UPDATE cases SET handling_level = :level, assignee_staff_id = :a, handling_grid_id = :g,
                            escalations = escalations + 1, due_at = :due, updated_at = :now,
                            status = CAST(:status AS case_status) WHERE id = :id"""),
                    {"level": new_level, "a": assignee, "g": grid, "due": due, "now": now, "status": target.value,
                     "id": case["id"]})
    prefix = "超期自动上报 / escalated automatically: the deadline passed. " if automatic else ""
    _event(session, case["id"], status, target, actor, now, prefix + note, kind="escalation", assignee=assignee,
           level=new_level, due=case["due_at"])  # the holder's stage ends here, met or missed
    return detail(session, case_id=case["id"], now=now)


def escalate_overdue(session: Session, now: datetime, *, subdistrict: str | None = None,
                     batch: int = 500) -> list[str]:
    """Escalate every case (of one sub-district, or all) whose handling deadline has passed and
    that is not yet with the leading group: it heads up one level, with a deadline of its own.
    A case with nobody above it stays overdue and listed, and does not hold up the others."""
    actor = Actor("系统（超期上报） / system: deadline")
    escalated: list[str] = []
    stuck: list[int] = []
    while True:
        rows = session.execute(text("""
            SELECT id, case_no FROM cases
            WHERE status IN ('dispatched', 'in_progress') AND due_at < :now AND coalesce(handling_level, 2) > 0
              AND (CAST(:sd AS varchar) IS NULL OR subdistrict_code = CAST(:sd AS varchar)) AND id <> ALL(:stuck)
            ORDER BY due_at, id LIMIT :batch FOR UPDATE SKIP LOCKED"""),
            {"now": now, "batch": batch, "sd": subdistrict, "stuck": stuck}).all()
        for row in rows:
            try:
                with session.begin_nested():
                    escalate(session, case_id=row.id, actor=actor, now=now, note="", automatic=True)
                escalated.append(row.case_no)
            except Conflict:
                stuck.append(row.id)
        if len(rows) < batch:
            return escalated


# --- versions, and the steps a caller may take ----------------------------------------------------

def version(session: Session, case_id: int) -> int:
    """A case's version: the number of steps it has taken (its events, none ever deleted)."""
    return session.execute(text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case_id}).scalar_one()


def etag(case: CaseDetail) -> str:
    """The ETag of a case as :func:`detail` gives it (every step listed): ``"v7"``."""
    return f'"v{len(case["events"])}"'


def check_version(session: Session, case: dict, expected: int | None) -> None:
    """Refuse a step sent from a version no longer current: someone moved the case since the
    caller read it. The 409 lists the steps taken since (who, when, from → to, note), so the
    caller sees what changed instead of a step silently taken twice or out of turn. None: the
    caller names no version (API clients that predate ``If-Match``)."""
    if expected is None:
        return
    current = version(session, case["id"])
    if expected == current:
        return
    since = [dict(r) for r in session.execute(text("""
        SELECT e.at, e.actor, e.kind, e.from_status, e.to_status, e.note, e.assignee_staff_id
        FROM case_events e WHERE e.case_id = :id ORDER BY e.id OFFSET :seen"""),
        {"id": case["id"], "seen": min(expected, current)}).mappings()] if expected < current else []
    raise Conflict(f"事件 {case['case_no']} 在您读取后已变动（现为第 {current} 步，您看到的是第 {expected} 步），"
                   f"请看清变动后再操作 / case {case['case_no']} has moved on since you read it (it is at step "
                   f"{current}, you read step {expected}): see what changed, then decide", where="If-Match",
                   current=f'"v{current}"', steps_since=_jsonable(since))


# Each move of ALLOWED by the name its button has, and what its form must and may carry.
STEP_NAMES: dict[tuple[S, S], str] = {
    (S.REPORTED, S.REGISTERED): "register", (S.REPORTED, S.REJECTED): "reject",
    (S.REPORTED, S.DUPLICATE): "duplicate", (S.REGISTERED, S.DISPATCHED): "dispatch",
    (S.DISPATCHED, S.IN_PROGRESS): "start", (S.IN_PROGRESS, S.HANDLED): "handled",
    (S.HANDLED, S.VERIFIED): "verify_pass", (S.VERIFIED, S.DISPATCHED): "verify_fail",
    (S.VERIFIED, S.CLOSED): "close",
}
STEP_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional)
    "register": ((), ("note",)), "reject": (("note",), ()), "duplicate": (("duplicate_of", "note"), ()),
    "dispatch": ((), ("assignee_staff_id", "note")), "start": ((), ("note",)), "handled": ((), ("note",)),
    "verify_pass": ((), ("note",)), "verify_fail": (("note",), ("assignee_staff_id",)),
    "close": ((), ("satisfaction", "feedback", "note")),
    "escalate": (("note",), ()), "reassign": (("assignee_staff_id", "note"), ()),
}


def _passes(check, *args) -> bool:
    try:
        check(*args)
    except (Conflict, Forbidden):
        return False
    return True


def steps(session: Session, case_no: str, *, actor: Actor) -> list[dict]:
    """The steps the API would accept from ``actor`` on the case now, by the same checks
    (:func:`transition`'s ``ALLOWED`` and :func:`_separate_duties`, :func:`reassign`'s and
    :func:`escalate`'s own), so a button never offers a step that is then refused. Each names
    its endpoint, its target status and what its form must and may carry (the values are checked
    when it is sent); ``assignee`` (level, staff id, grid code) is whom a dispatch goes to when
    nobody is chosen, who holds the case now for a reassignment, whom an escalation goes up to."""
    row = session.execute(text("SELECT * FROM cases WHERE case_no = :n"), {"n": case_no}).mappings().first()
    if row is None:
        raise NotFound(f"没有事件 {case_no} / no case {case_no}", where="case")
    case, status = dict(row), S(row["status"])

    def step(name: str, path: str, to: S | None = None, **extra) -> dict:
        required, optional = STEP_FIELDS[name]
        return {"step": name, "path": path, "to": to.value if to else None, "requires": list(required),
                "accepts": list(required + optional), **extra}

    def holder(level: int | None, staff_id: int | None, grid_id: int | None) -> dict:
        grid = session.execute(text("SELECT code FROM grids WHERE id = :id"), {"id": grid_id}).scalar()
        return {"level": level, "staff_id": staff_id, "grid": grid}

    offered = []
    for target in ALLOWED[status]:
        if not _passes(_separate_duties, session, case, target, actor):
            continue
        extra = {"assignee": holder(*_dispatched_to(session, case))} if target is S.DISPATCHED else {}
        offered.append(step(STEP_NAMES[status, target], "transitions", target, **extra))
    if _passes(_may_reassign, session, case, actor):
        offered.append(step("reassign", "reassign", assignee=holder(
            case["handling_level"], case["assignee_staff_id"], case["handling_grid_id"])))
    try:
        above = _escalation(session, case)
    except Conflict:
        return offered
    return [*offered, step("escalate", "escalate", assignee=holder(*above))]


# --- attachments --------------------------------------------------------------------------------

def add_attachment(session: Session, case_no: str, *, filename: str, media_type: str, content: bytes,
                   actor: Actor, idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Store a checked file on the case. Returns it and whether it is new: a retry with the same
    ``Idempotency-Key`` (an upload whose answer was lost) gets the attachment the first upload
    made, even if the case has moved on since; the key reused for another file is refused."""
    limit = get_settings().max_attachment_bytes
    if not content:
        raise InvalidInput("附件为空 / the file is empty", where="file")
    if len(content) > limit:
        raise InvalidInput(f"附件超过 {limit // 1024 // 1024} MB / the file is larger than {limit} bytes", where="file")
    allowed = ("image/jpeg", "image/png", "image/webp", "application/pdf")
    if media_type not in allowed:
        raise InvalidInput(f"不支持的附件类型 {media_type!r}；可用：{', '.join(allowed)} / unsupported media type",
                           where="file")
    if not _looks_like(content, media_type):
        raise InvalidInput(f"文件内容不是 {media_type} / the file's content is not {media_type}", where="file")
    case = _locked(session, case_no=case_no)  # uploads to one case queue here, retries of one upload too
    upload = {"case": case["id"], "name": filename[:200] or "attachment", "type": media_type, "size": len(content),
              "sha": hashlib.sha256(content).hexdigest(), "content": content, "by": actor.name, "key": idempotency_key}
    if idempotency_key is not None and (first := _attached_before(session, upload)) is not None:
        return first, False
    if not ALLOWED[S(case["status"])]:
        raise Conflict(f"事件已{S(case['status']).label_zh}，不能再加附件 / the case is {case['status']}: no more "
                       "attachments", where="case")
    row = session.execute(text("""
        INSERT INTO case_attachments (case_id, filename, media_type, size_bytes, sha256, content, uploaded_by,
                                      idempotency_key)
        VALUES (:case, :name, :type, :size, :sha, :content, :by, :key)
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id, uploaded_at"""), upload).first()
    if row is None:  # the key's first upload, to another case, committed while we waited on the index
        return _attached_before(session, upload), False
    return {"id": row.id, "filename": upload["name"], "media_type": media_type, "size_bytes": len(content),
            "uploaded_at": row.uploaded_at.isoformat()}, True


def _attached_before(session: Session, upload: dict) -> dict | None:
    """The attachment the first upload with this key made, if this upload is its retry: the same
    file, to the same case, by the same person."""
    first = session.execute(text("""SELECT id, case_id, filename, media_type, size_bytes, sha256, uploaded_by, uploaded_at
                                    FROM case_attachments WHERE idempotency_key = :key"""), upload).first()
    if first is None:
        return None
    if (first.case_id, first.sha256, first.media_type, first.uploaded_by) != (
            upload["case"], upload["sha"], upload["type"], upload["by"]):
        raise InvalidInput("这个 Idempotency-Key 已用于另一个附件 / this Idempotency-Key uploaded another file: use a "
                           "new key for a new upload", where="Idempotency-Key")
    return {"id": first.id, "filename": first.filename, "media_type": first.media_type,
            "size_bytes": first.size_bytes, "uploaded_at": first.uploaded_at.isoformat()}


_MAGIC = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",), "application/pdf": (b"%PDF-",),
          "image/webp": (b"RIFF",)}


def _looks_like(content: bytes, media_type: str) -> bool:
    if media_type == "image/webp":
        return content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    return content.startswith(_MAGIC[media_type])


def _attach_to_event(session: Session, case_id: int, attachment_id: int, event_id: int) -> None:
    done = session.execute(text("UPDATE case_attachments SET event_id = :e WHERE id = :a AND case_id = :c "
                                "AND event_id IS NULL"), {"e": event_id, "a": attachment_id, "c": case_id}).rowcount
    if done != 1:
        raise InvalidInput(f"附件 {attachment_id} 不属于此事件或已用于其他步骤 / attachment {attachment_id} is not an "
                           "unused attachment of this case", where="attachment_ids")


def attachment(session: Session, case_no: str, attachment_id: int) -> tuple[str, str, bytes]:
    row = session.execute(text("""SELECT a.filename, a.media_type, a.content FROM case_attachments a
                                  JOIN cases c ON c.id = a.case_id WHERE c.case_no = :n AND a.id = :a"""),
                          {"n": case_no, "a": attachment_id}).first()
    if row is None:
        raise NotFound(f"事件 {case_no} 没有附件 {attachment_id} / no such attachment", where="attachment")
    return row.filename, row.media_type, bytes(row.content)


# --- reading ------------------------------------------------------------------------------------

CASE_JSON = """
json_build_object(
    'case_no', c.case_no, 'subdistrict', c.subdistrict_code,
    'category', c.category_code, 'subtype', c.subtype_code, 'title', c.title, 'description', c.description,
    'status', c.status, 'reporter', json_build_object('name', c.reporter_name, 'kind', c.reporter_kind,
                                                       'staff_id', c.reporter_staff_id),
    'location', json_build_object('lon', ST_X(c.geom), 'lat', ST_Y(c.geom)),
    'building_id', c.building_id, 'address', c.address,
    'grids', json_build_object('l1', g1.code, 'l2', g2.code, 'l3', g3.code),
    'handling', json_build_object('level', c.handling_level, 'grid', hg.code, 'staff_id', c.assignee_staff_id,
                                  'staff', st.name),
    'due_at', c.due_at, 'overdue', (c.due_at IS NOT NULL AND c.due_at < :now),
    'escalations', c.escalations, 'reopens', c.reopens, 'duplicate_of', dup.case_no,
    'satisfaction', c.satisfaction, 'feedback', c.feedback,
    'reported_at', c.reported_at, 'updated_at', c.updated_at, 'closed_at', c.closed_at
)"""
CASE_JOINS = """
LEFT JOIN grids g1 ON g1.id = c.grid_l1_id LEFT JOIN grids g2 ON g2.id = c.grid_l2_id
LEFT JOIN grids g3 ON g3.id = c.grid_l3_id LEFT JOIN grids hg ON hg.id = c.handling_grid_id
LEFT JOIN staff st ON st.id = c.assignee_staff_id LEFT JOIN cases dup ON dup.id = c.duplicate_of"""


def detail(session: Session, *, case_id: int | None = None, case_no: str | None = None,
           now: datetime | None = None) -> CaseDetail:
    """A case with its timeline (every step, who, when, note, deadline met or missed) and the
    list of its attachments."""
    where, value = ("c.id = :v", case_id) if case_id is not None else ("c.case_no = :v", case_no)
    found = session.execute(text(f"""
        SELECT {CASE_JSON}::text AS body, c.id FROM cases c {CASE_JOINS} WHERE {where}"""),
        {"v": value, "now": now or _db_now(session)}).first()
    if found is None:
        raise NotFound(f"没有事件 {value} / no case {value}", where="case")
    body = json.loads(found.body)
    body["allowed"] = [s.value for s in ALLOWED[S(body["status"])]]
    body["events"] = [dict(r) for r in session.execute(text("""
        SELECT e.id, e.kind, e.at, e.from_status, e.to_status, e.actor, e.actor_staff_id, e.note,
               e.assignee_staff_id, s.name AS assignee, e.handling_level, e.due_at, e.on_time,
               coalesce((SELECT array_agg(a.id ORDER BY a.id) FROM case_attachments a WHERE a.event_id = e.id),
                        '{}') AS attachment_ids
        FROM case_events e LEFT JOIN staff s ON s.id = e.assignee_staff_id
        WHERE e.case_id = :id ORDER BY e.at, e.id"""), {"id": found.id}).mappings()]
    body["attachments"] = [dict(r) for r in session.execute(text("""
        SELECT id, filename, media_type, size_bytes, event_id, uploaded_by, uploaded_at FROM case_attachments
        WHERE case_id = :id ORDER BY id"""), {"id": found.id}).mappings()]
    return _jsonable(body)


def _db_now(session: Session) -> datetime:
    return session.execute(text("SELECT now()")).scalar_one()


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# --- the reporter's view ------------------------------------------------------------------------

def public_view(session: Session, tracking_code: str, now: datetime) -> dict:
    """What a resident sees by tracking code: the steps and their times, the outcome, and no
    names, notes or places of staff (only the notes that answer the reporter: why rejected,
    what was done at closure)."""
    case = session.execute(text("""
        SELECT c.id, c.case_no, c.tracking_code, c.title, c.status, cat.name_zh AS category, sub.name_zh AS subtype,
               cat.name_en AS category_en, sub.name_en AS subtype_en,
               c.reported_at, c.closed_at, c.satisfaction, c.feedback, c.handling_level,
               (c.due_at IS NOT NULL AND c.due_at < :now) AS overdue
        FROM cases c JOIN case_categories cat ON cat.code = c.category_code
        LEFT JOIN case_categories sub ON sub.code = c.subtype_code WHERE c.tracking_code = :t"""),
        {"t": tracking_code, "now": now}).mappings().first()
    if case is None:
        raise NotFound("查询码无效 / no case has this tracking code", where="tracking_code")
    steps = session.execute(text("""
        SELECT at, to_status, kind, CASE WHEN to_status IN ('rejected', 'duplicate', 'closed') THEN note END AS note
        FROM case_events WHERE case_id = :id ORDER BY at, id"""), {"id": case["id"]}).mappings()
    body = {k: v for k, v in case.items() if k != "id"}
    body["status_label"] = S(case["status"]).label_zh
    body["handled_by"] = LEVEL_NAMES.get(case["handling_level"]) if case["handling_level"] is not None else None
    body["steps"] = [{"at": r["at"], "status": r["to_status"], "label": S(r["to_status"]).label_zh,
                      "escalated": r["kind"] == "escalation", "note": r["note"]} for r in steps]
    body["can_rate"] = case["status"] == S.CLOSED and case["satisfaction"] is None
    return _jsonable(body)


def rate(session: Session, tracking_code: str, satisfaction: int, feedback: str | None, now: datetime) -> None:
    """The reporter's satisfaction (1–5) and feedback on a closed case, once."""
    row = session.execute(text("SELECT id, status, satisfaction FROM cases WHERE tracking_code = :t FOR UPDATE"),
                          {"t": tracking_code}).first()
    if row is None:
        raise NotFound("查询码无效 / no case has this tracking code", where="tracking_code")
    if row.status != S.CLOSED:
        raise Conflict("事件结案后才能评价 / a case can be rated once it is closed", where="tracking_code")
    if row.satisfaction is not None:
        raise Conflict("此事件已评价 / this case has been rated already", where="tracking_code")
    session.execute(text("UPDATE cases SET satisfaction = :s, feedback = coalesce(:f, feedback), updated_at = :now "
                         "WHERE id = :id"), {"s": satisfaction, "f": feedback, "now": now, "id": row.id})
