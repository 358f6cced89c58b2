"""HTTP for the grid workers' own record: visits and information checks, training, each within
the caller's scope (see the service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.clock import Clock, Day, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.paging import JsonPage, Page, page_params
from gisgrid.fieldwork import service
from gisgrid.fieldwork.service import CourseIn, RecordIn, VisitIn

router = APIRouter(tags=["fieldwork"])
FIELDWORK = Depends(needs("fieldwork"))
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", min_length=8, max_length=200,
                         description="a client-made id (a UUID): a retry with the same key logs the visit once")


@router.post("/visits", status_code=201, summary="登记走访 / Log a visit or an information check",
             responses={200: {"description": "a retry: the visit the first call with this Idempotency-Key logged"},
                        422: {"description": "invalid input, or an Idempotency-Key that logged another visit"}})
def log_visit(visit: VisitIn, response: Response, me: Principal = FIELDWORK, clock: Clock = Depends(get_clock),
              idempotency_key: str | None = IDEMPOTENCY_KEY, session: Session = Depends(get_session)) -> dict:
    saved, created = service.log_visit(session, visit, clock.now(), me, idempotency_key)
    session.commit()
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return saved


@router.get("/visits", summary="走访记录 / Visits")
def list_visits(staff_id: int | None = Query(None, ge=1), grid: str | None = Query(None, max_length=18),
                since: Day | None = Query(None, alias="from"), until: Day | None = Query(None, alias="to"),
                page: Page = Depends(page_params), me: Principal = FIELDWORK,
                session: Session = Depends(get_session)) -> JsonPage[dict[str, Any]]:
    return service.list_visits(session, staff_id=staff_id, grid=grid, since=since, until=until, page=page, caller=me)


@router.post("/training/courses", status_code=201, summary="新建培训 / Add a training course")
def add_course(course: CourseIn, me: Principal = FIELDWORK, session: Session = Depends(get_session)) -> dict:
    saved = service.add_course(session, course, me)
    session.commit()
    return saved


@router.get("/training/courses", summary="培训 / Training courses")
def list_courses(subdistrict: str | None = Query(None, pattern="^[0-9]{9}$"), page: Page = Depends(page_params),
                 me: Principal = FIELDWORK, session: Session = Depends(get_session)) -> JsonPage[dict[str, Any]]:
    return service.list_courses(session, subdistrict, page, me)


@router.get("/training/courses/{course_id}", summary="培训详情 / A course with attendance and scores")
def course(course_id: int = Path(..., ge=1), me: Principal = FIELDWORK, session: Session = Depends(get_session)) -> dict:
    return service.course_detail(session, course_id, me)


@router.put("/training/courses/{course_id}/records", summary="登记出勤与成绩 / Record attendance and scores")
def record_results(course_id: int = Path(..., ge=1), records: list[RecordIn] = Body(..., max_length=1000),
                   me: Principal = FIELDWORK, session: Session = Depends(get_session)) -> dict:
    saved = service.record_results(session, course_id, records, me)
    session.commit()
    return saved
