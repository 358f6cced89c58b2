"""Logging visits and information checks, and training courses with their results, each within
the caller's scope.

Visits are the caller's when their grid is (``Principal.scope.rows``, the visit's L1 read off its
L2): a worker lists and logs visits in their own grids only, by staff of their scope. Training
courses are sub-district-wide: everyone with the function sees their sub-district's courses,
but of the attendance and scores only those of staff assigned to grids in their scope (a
worker: their own grids' teams and those of the grids above and below), and a course's
attendance and mean score count those records only. Others' records are neither shown nor
writable (their staff member is unknown to the caller, 422); a course of another sub-district
does not exist for them (404).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.core.calendar import local_midnight
from gisgrid.core.clock import Day, Moment
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.paging import Page, Where, json_page
from gisgrid.staff.service import assigned_within

Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)
# A visit keeps its sub-district and L2 grid, and its L1 is that grid's parent: ``place`` gives
# each visit the columns Principal.scope.rows reads.
VISIT_PLACE = """CROSS JOIN LATERAL (SELECT v.subdistrict_code, v.grid_l2_id,
    (SELECT p.id FROM grids l2 JOIN grids p ON p.code = l2.parent_code WHERE l2.id = v.grid_l2_id) AS grid_l1_id
) place"""


class VisitIn(BaseModel):
    model_config = Strict

    staff_id: int = Field(ge=1, description="the grid worker who visited")
    kind: str = Field("visit", pattern="^(visit|info_check)$", description="visit (入户走访) or info_check (信息核查)")
    building_id: int | None = Field(None, ge=1)
    household_id: int | None = Field(None, ge=1, description="the household visited; its building is implied")
    visited_at: Moment | None = Field(None, description="when; default now")
    note: str = Field("", max_length=2000)


class CourseIn(BaseModel):
    model_config = Strict

    subdistrict: str = Field(pattern="^[0-9]{9}$")
    title: str = Field(min_length=1, max_length=200)
    held_on: Day
    hours: float = Field(gt=0, le=200)
    max_score: float = Field(100, gt=0, le=1000)


class RecordIn(BaseModel):
    model_config = Strict

    staff_id: int = Field(ge=1)
    attended: bool
    score: float | None = Field(None, ge=0)


def _staff(caller: Principal) -> tuple[str, dict]:
    """A condition on staff ``s``: those of the caller's scope."""
    return assigned_within(caller.scope)


def _courses(caller: Principal) -> tuple[str, dict]:
    """A condition on training courses ``t``: those of the caller's sub-district."""
    if caller.subdistrict is None:
        return "true", {}
    return "t.subdistrict_code = :course_sd", {"course_sd": caller.subdistrict}


def log_visit(session: Session, visit: VisitIn, now: datetime, caller: Principal,
              idempotency_key: str | None = None) -> tuple[dict, bool]:
    """A visit keeps the L2 grid its building was in at the time (as a case keeps its grid). A
    building or household outside the caller's scope is 404, as an unknown one is.

    Returns the visit and whether it is new: a retry with the same ``Idempotency-Key`` (even one
    racing the first, which waits on the key's unique index) gets the visit the first one logged;
    the key reused for another visit is refused."""
    if visit.household_id is None and visit.building_id is None:
        raise InvalidInput("须填写户或楼栋 / give household_id or building_id", where="household_id")
    staff = _staff(caller)
    if session.execute(text(f"SELECT 1 FROM staff s WHERE s.id = :id AND s.active AND {staff[0]}"),
                       {"id": visit.staff_id, **staff[1]}).first() is None:
        raise InvalidInput(f"没有在岗工作人员 {visit.staff_id} / no active staff member {visit.staff_id}",
                           where="staff_id")
    buildings = caller.scope.rows("b")
    if visit.household_id is not None:
        building = session.execute(text(f"""SELECT h.building_id FROM households h JOIN buildings b
                                             ON b.id = h.building_id WHERE h.id = :id AND {buildings[0]}"""),
                                   {"id": visit.household_id, **buildings[1]}).scalar()
        if building is None:
            raise NotFound(f"没有住户 {visit.household_id} / no household {visit.household_id}", where="household_id")
        if visit.building_id is not None and visit.building_id != building:
            raise InvalidInput("住户不在该楼栋 / the household is not in that building", where="building_id")
    else:
        building = visit.building_id
    place = session.execute(text(f"SELECT b.subdistrict_code, b.grid_l2_id FROM buildings b WHERE b.id = :id "
                                 f"AND {buildings[0]}"), {"id": building, **buildings[1]}).first()
    if place is None:
        raise NotFound(f"没有楼栋 {building} / no building {building}", where="building_id")
    at = visit.visited_at or now
    if at.tzinfo is None:
        raise InvalidInput("时间须带时区，如 2026-11-27T09:30:00+08:00 / give visited_at with its UTC offset",
                           where="visited_at")
    if at > now or at.year < 2000:
        raise InvalidInput("走访时间应在 2000 年以后、不晚于现在 / a visit lies between 2000 and now", where="visited_at")
    row = session.execute(text("""
        INSERT INTO visits (staff_id, kind, building_id, household_id, subdistrict_code, grid_l2_id, visited_at, note,
                            idempotency_key)
        VALUES (:staff, :kind, :building, :household, :sd, :grid, :at, :note, :key)
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id"""),
        {"staff": visit.staff_id, "kind": visit.kind, "building": building, "household": visit.household_id,
         "sd": place.subdistrict_code, "grid": place.grid_l2_id, "at": at, "note": visit.note,
         "key": idempotency_key}).scalar()
    if row is None:
        return _logged_before(session, idempotency_key, visit, building), False
    return {"id": row, "staff_id": visit.staff_id, "kind": visit.kind, "building_id": building,
            "household_id": visit.household_id, "grid_l2_id": place.grid_l2_id, "visited_at": at.isoformat()}, True


def _logged_before(session: Session, key: str | None, visit: VisitIn, building: int) -> dict:
    """The visit a first request with this key logged, if this request is its retry."""
    first = session.execute(text("SELECT id, staff_id, kind, building_id, household_id, grid_l2_id, visited_at, note "
                                 "FROM visits WHERE idempotency_key = :k"), {"k": key}).mappings().one()
    if (first["staff_id"], first["kind"], first["building_id"], first["household_id"], first["note"]) != (
            visit.staff_id, visit.kind, building, visit.household_id, visit.note):
        raise InvalidInput("Idempotency-Key 已用于另一次走访 / this Idempotency-Key logged another visit",
                           where="Idempotency-Key")
    return {**{k: v for k, v in first.items() if k != "note"}, "visited_at": first["visited_at"].isoformat()}


def list_visits(session: Session, *, staff_id: int | None, grid: str | None, since: date | None,
                until: date | None, page: Page, caller: Principal) -> dict:
    where = Where()
    where.add(*caller.scope.rows("place"))
    if staff_id:
        where.add("v.staff_id = :staff", staff=staff_id)
    if grid:
        where.add("v.grid_l2_id = (SELECT id FROM grids WHERE code = :grid)", grid=grid)
    if since:
        where.add("v.visited_at >= :since", since=local_midnight(since))
    if until:
        where.add("v.visited_at < :until", until=local_midnight(until, days_after=1))
    rows = f"""SELECT v.id, v.staff_id, s.name AS staff, v.kind, v.building_id, b.name AS building, v.household_id,
                      g.code AS grid, v.visited_at, v.note
               FROM visits v {VISIT_PLACE} JOIN staff s ON s.id = v.staff_id JOIN buildings b ON b.id = v.building_id
               LEFT JOIN grids g ON g.id = v.grid_l2_id WHERE {where.sql} ORDER BY v.visited_at DESC, v.id"""
    return json_page(session, rows_sql=rows, count_sql=f"SELECT count(*) FROM visits v {VISIT_PLACE} WHERE {where.sql}",
                     params=where.params, page=page)


def add_course(session: Session, course: CourseIn, caller: Principal) -> dict:
    """A course of the caller's sub-district; any other is as unknown as a code that does not exist."""
    if caller.subdistrict not in (None, course.subdistrict) or session.execute(
            text("SELECT 1 FROM subdistricts WHERE code = :c"), {"c": course.subdistrict}).first() is None:
        raise InvalidInput(f"没有街道 {course.subdistrict} / no sub-district {course.subdistrict}", where="subdistrict")
    course_id = session.execute(text("""
        INSERT INTO training_courses (subdistrict_code, title, held_on, hours, max_score)
        VALUES (:sd, :title, :held, :hours, :max) RETURNING id"""),
        {"sd": course.subdistrict, "title": course.title, "held": course.held_on, "hours": course.hours,
         "max": course.max_score}).scalar_one()
    return course_detail(session, course_id, caller)


def _course(session: Session, course_id: int, caller: Principal):
    courses = _courses(caller)
    course = session.execute(text(f"""SELECT t.id, t.subdistrict_code AS subdistrict, t.title, t.held_on,
                                             t.hours::float, t.max_score::float FROM training_courses t
                                      WHERE t.id = :id AND {courses[0]}"""),
                             {"id": course_id, **courses[1]}).mappings().first()
    if course is None:
        raise NotFound(f"没有培训 {course_id} / no course {course_id}", where="course")
    return course


def record_results(session: Session, course_id: int, records: list[RecordIn], caller: Principal) -> dict:
    """Attendance and scores for a course, replacing what each named worker had there; only for
    staff of the caller's scope."""
    max_score = _course(session, course_id, caller)["max_score"]
    staff = _staff(caller)
    for i, record in enumerate(records):
        if record.score is not None and (not record.attended or record.score > max_score):
            raise InvalidInput(f"第 {i + 1} 条：成绩须在 0–{max_score} 且须出席 / record {i + 1}: a score needs "
                               f"attendance and is 0–{max_score}", where=f"records[{i}].score")
        if session.execute(text(f"SELECT 1 FROM staff s WHERE s.id = :id AND {staff[0]}"),
                           {"id": record.staff_id, **staff[1]}).first() is None:
            raise InvalidInput(f"第 {i + 1} 条：没有工作人员 {record.staff_id} / no staff member {record.staff_id}",
                               where=f"records[{i}].staff_id")
        session.execute(text("""
            INSERT INTO training_records (course_id, staff_id, attended, score) VALUES (:c, :s, :a, :score)
            ON CONFLICT (course_id, staff_id) DO UPDATE SET attended = excluded.attended, score = excluded.score"""),
            {"c": course_id, "s": record.staff_id, "a": record.attended, "score": record.score})
    return course_detail(session, course_id, caller)


def course_detail(session: Session, course_id: int, caller: Principal) -> dict:
    course = _course(session, course_id, caller)
    staff = _staff(caller)
    records = session.execute(text(f"""SELECT r.staff_id, s.name, r.attended, r.score::float FROM training_records r
                                       JOIN staff s ON s.id = r.staff_id WHERE r.course_id = :id AND {staff[0]}
                                       ORDER BY r.staff_id"""),
                              {"id": course_id, **staff[1]}).mappings().all()
    return {**course, "held_on": course["held_on"].isoformat(), "records": [dict(r) for r in records]}


def list_courses(session: Session, subdistrict: str | None, page: Page, caller: Principal) -> dict:
    where = Where()
    where.add(*_courses(caller))
    if subdistrict:
        where.add("t.subdistrict_code = :sd", sd=subdistrict)
    staff = _staff(caller)
    seen = f"training_records r JOIN staff s ON s.id = r.staff_id WHERE r.course_id = t.id AND {staff[0]}"
    rows = f"""SELECT t.id, t.subdistrict_code AS subdistrict, t.title, t.held_on, t.hours::float, t.max_score::float,
                      (SELECT count(*) FILTER (WHERE r.attended) FROM {seen}) AS attended,
                      (SELECT round(avg(r.score), 1)::float FROM {seen}) AS mean_score
               FROM training_courses t WHERE {where.sql} ORDER BY t.held_on DESC, t.id"""
    return json_page(session, rows_sql=rows, count_sql=f"SELECT count(*) FROM training_courses t WHERE {where.sql}",
                     params={**where.params, **staff[1]}, page=page)
