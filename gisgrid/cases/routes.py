"""HTTP for cases: the loop (intake, steps, escalation, attachments), lists, the density
behind the case heatmap, the categories, and the public report form's endpoints."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.audit.service import recent, record
from gisgrid.auth.access import Principal, caller, get_actor, needs
from gisgrid.cases import service, workflow
from gisgrid.cases.results import CaseDetail, CaseRow, ReportedCase
from gisgrid.cases.schemas import (
    CaseReport,
    Escalation,
    PublicReport,
    Rating,
    Reassignment,
    Transition,
)
from gisgrid.cases.service import CaseFilter, parse_cell
from gisgrid.core.clock import Clock, Day, get_clock
from gisgrid.core.dependencies import Actor, get_session
from gisgrid.core.errors import TooManyAttempts, responses
from gisgrid.core.geojson import BBox, bbox_param
from gisgrid.core.paging import JsonPage, Page, page_params
from gisgrid.core.settings import get_settings
from gisgrid.grids.editing import parse_if_match

router = APIRouter(tags=["cases"])


def case_filter(
    subdistrict: str | None = Query(None, description="sub-district code"),
    category: str | None = Query(None, description="category or sub-type code", examples=["urban_management"]),
    status: str | None = Query(None, description="open, closed, or a status such as dispatched"),
    since: Day | None = Query(None, alias="from", description="reported on or after (YYYY-MM-DD)"),
    until: Day | None = Query(None, alias="to", description="reported on or before (YYYY-MM-DD)"),
    bbox: BBox | None = Depends(bbox_param),
    cell: str | None = Query(None, description="a hexagon from /cases/density?mode=hex: its 'cell' property"),
    grid: str | None = Query(None, description="reported in this grid (a code of any level)"),
    assignee: int | None = Query(None, ge=1, description="with this staff member now"),
    overdue: bool = Query(False, description="only open cases past their stage's deadline, longest overdue first"),
    clock: Clock = Depends(get_clock),
    me: Principal = Depends(caller),
) -> CaseFilter:
    return CaseFilter(subdistrict=subdistrict, category=category, status=status, since=since, until=until,
                      bbox=bbox, cell=parse_cell(cell), grid=grid, assignee=assignee,
                      overdue_at=clock.now() if overdue else None, scope=me.scope)


IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", min_length=8, max_length=200,
                         description="a fresh key per report (e.g. a UUID): a retry with the same key and body "
                         "returns the case the first call made instead of a second case")
CASE_NO = Path(..., max_length=30, description="the case number, e.g. 110101001-2026-000123")
IF_MATCH = Header(None, alias="If-Match", description="optional: the case's ETag from its last read (\"v7\": "
                  "the number of steps it had taken); a case moved on since is 409 listing the steps taken since "
                  "in detail.steps_since. Without it the step is taken from wherever the case stands.")


def scoped_case(case_no: str = CASE_NO, me: Principal = Depends(caller),
                session: Session = Depends(get_session)) -> str:
    """The case number of a case in the caller's scope; any other does not exist for them (404)."""
    service.case_in_scope(session, case_no, me.scope)
    return case_no


@router.get("/cases", dependencies=[Depends(needs("cases"))], summary="事件列表 / Cases")
def list_cases(filters: CaseFilter = Depends(case_filter), page: Page = Depends(page_params),
               clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> JsonPage[CaseRow]:
    """Newest first, with category, status, location, the L2 grid it was reported in, who has it
    and its deadline; ``overdue=true`` lists the open cases past their deadline."""
    return service.list_cases(session, filters, page, clock.now())


@router.get("/cases/density", dependencies=[Depends(needs("maps"))], summary="事件密度 / Case density for the heatmap")
def density(filters: CaseFilter = Depends(case_filter),
            mode: Literal["heat", "hex"] = Query("heat", description="heat: weighted points; hex: hexagon counts"),
            size: float = Query(150, description="hexagon edge length in metres (hex mode)"),
            session: Session = Depends(get_session)) -> dict:
    """Counted in the database: a few thousand weighted points, or counts per hexagon."""
    if mode == "hex":
        return service.hexagons(session, filters, size)
    return service.heat(session, filters)


def _reported(session: Session, report: CaseReport, actor: Actor, key: str | None, clock: Clock,
              response: Response) -> ReportedCase:
    case, created = workflow.intake(session, report, actor=actor, now=clock.now(), idempotency_key=key)
    session.commit()
    if created:
        response.headers["Location"] = f"/cases/{case['case_no']}"
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.status_code = 201 if created else 200
    return case


@router.post("/cases", dependencies=[Depends(needs("cases"))], status_code=201, summary="上报事件 / Report a case",
             responses={200: {"description": "a retry: the case the first call with this Idempotency-Key made"},
                        **responses(409)})
def report_case(report: CaseReport, response: Response, idempotency_key: str | None = IDEMPOTENCY_KEY,
                actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
                session: Session = Depends(get_session)) -> ReportedCase:
    """A case at a point (``location``, GCJ-02/BD-09 converted), a building or an address that names
    one building; it keeps the grid at every level it was reported in, and gets its number, a
    tracking code for the reporter, and the deadline for registering it."""
    return _reported(session, report, actor, idempotency_key, clock, response)


@router.post("/cases/escalate-overdue", dependencies=[Depends(needs("admin"))], summary="超期上报 / Escalate every case past its handling deadline")
def escalate_overdue(subdistrict: str | None = Query(None, pattern="^[0-9]{9}$", description="only this one"),
                     clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> dict:
    """What the service's own sweep does every ``GISGRID_CASE_SWEEP_SECONDS``, run now."""
    escalated = workflow.escalate_overdue(session, clock.now(), subdistrict=subdistrict)
    session.commit()
    return {"escalated": escalated}


@router.get("/cases/{case_no}", dependencies=[Depends(needs("cases"))], summary="事件详情 / A case with its timeline")
def case_detail(response: Response, case_no: str = Depends(scoped_case), clock: Clock = Depends(get_clock),
                session: Session = Depends(get_session)) -> CaseDetail:
    """With its version as ``ETag`` (``"v7"``: the steps taken), for a step's ``If-Match``."""
    case = workflow.detail(session, case_no=case_no, now=clock.now())
    response.headers["ETag"] = workflow.etag(case)
    return case


def _stepped(session: Session, response: Response, case: CaseDetail) -> CaseDetail:
    session.commit()
    response.headers["ETag"] = workflow.etag(case)
    return case


@router.post("/cases/{case_no}/transitions", dependencies=[Depends(needs("cases"))], summary="流转 / Move a case one step",
             responses=responses(409))
def move_case(change: Transition, response: Response, case_no: str = Depends(scoped_case),
              if_match: str | None = IF_MATCH, actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
              session: Session = Depends(get_session)) -> CaseDetail:
    """reported → registered | rejected | duplicate → dispatched → in_progress → handled → verified →
    closed, or verified → dispatched when the check fails. Anything else is 409 naming what is
    allowed. Dispatch goes to the lead of the L2 grid holding the place unless an assignee is named.
    With ``If-Match``, a case moved on since that version is 409 with the steps taken since."""
    return _stepped(session, response, workflow.transition(session, case_no, change, actor=actor, now=clock.now(),
                                                           expected=parse_if_match(if_match)))


@router.post("/cases/{case_no}/escalate", dependencies=[Depends(needs("cases"))], summary="上报上级 / Escalate a case one level up",
             responses=responses(409))
def escalate(body: Escalation, response: Response, case_no: str = Depends(scoped_case),
             if_match: str | None = IF_MATCH, actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
             session: Session = Depends(get_session)) -> CaseDetail:
    """L2 grid → community (L1 lead) → the sub-district's leading group. ``If-Match`` as for a step."""
    return _stepped(session, response, workflow.escalate(session, case_no, actor=actor, now=clock.now(),
                                                         note=body.note, expected=parse_if_match(if_match)))


@router.post("/cases/{case_no}/reassign", dependencies=[Depends(needs("cases"))], summary="改派 / Send a dispatched case to someone else",
             responses=responses(409))
def reassign(body: Reassignment, response: Response, case_no: str = Depends(scoped_case),
             if_match: str | None = IF_MATCH, actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
             session: Session = Depends(get_session)) -> CaseDetail:
    """``If-Match`` as for a step."""
    return _stepped(session, response, workflow.reassign(session, case_no, body.assignee_staff_id, actor=actor,
                                                         now=clock.now(), note=body.note,
                                                         expected=parse_if_match(if_match)))


UPLOAD_KEY = Header(None, alias="Idempotency-Key", min_length=8, max_length=200,
                    description="a fresh key per file (e.g. a UUID): a retry with the same key and file returns "
                    "the attachment the first upload made instead of attaching it twice")


@router.post("/cases/{case_no}/attachments", dependencies=[Depends(needs("cases"))], status_code=201, summary="上传附件 / Attach a photo or document",
             responses={200: {"description": "a retry: the attachment the first upload with this Idempotency-Key made"},
                        **responses(409)})
async def upload_attachment(response: Response, case_no: str = Depends(scoped_case), file: UploadFile = File(...),
                            idempotency_key: str | None = UPLOAD_KEY, actor: Actor = Depends(get_actor),
                            session: Session = Depends(get_session)) -> dict:
    """JPEG, PNG, WebP or PDF up to ``GISGRID_MAX_ATTACHMENT_BYTES``; file it with a step by
    passing its id in that step's ``attachment_ids``."""
    content = await file.read(get_settings().max_attachment_bytes + 1)
    saved, created = workflow.add_attachment(session, case_no, filename=file.filename or "attachment",
                                             media_type=file.content_type or "", content=content, actor=actor,
                                             idempotency_key=idempotency_key)
    session.commit()
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return saved


@router.get("/cases/{case_no}/attachments/{attachment_id}", dependencies=[Depends(needs("cases"))], response_class=Response,
            summary="下载附件 / An attachment")
def download_attachment(attachment_id: int, case_no: str = Depends(scoped_case), session: Session = Depends(get_session)):
    name, media_type, content = workflow.attachment(session, case_no, attachment_id)
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}", "X-Content-Type-Options": "nosniff"})


@router.get("/case-categories", summary="事件类别 / The eight information categories")
def categories(session: Session = Depends(get_session)) -> list[dict]:
    """Each category with its sub-types and the time limit of every stage in working hours."""
    return service.categories(session)


class SubtypeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    parent: str = Field(max_length=40, examples=["urban_management"])
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=80)
    deadline_hours: dict[str, float | None] = Field(
        default_factory=dict, description="register, dispatch, handle, close: working hours (null inherits)")


@router.put("/case-categories/{code}", dependencies=[Depends(needs("admin"))], summary="设置事件小类 / Add or change a sub-type and its time limits")
def put_subtype(body: SubtypeBody, code: str = Path(..., max_length=40),
                session: Session = Depends(get_session)) -> dict:
    subtype = service.put_subtype(session, code, parent=body.parent, name_zh=body.name_zh, name_en=body.name_en,
                                  deadline_hours=body.deadline_hours)
    session.commit()
    return subtype


# --- the public form (no account) -------------------------------------------------------------

TRACKING = Path(..., min_length=10, max_length=10, pattern="^[2-9A-HJ-NP-Z]{10}$",
                description="the tracking code the reporter was given")


@router.post("/public/cases", status_code=201, tags=["public"], summary="居民上报 / A resident reports a case",
             responses={200: {"description": "a retry: the case the first call with this Idempotency-Key made"},
                        **responses(409, 429)})
def public_report(report: PublicReport, request: Request, idempotency_key: str | None = IDEMPOTENCY_KEY,
                  clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> JSONResponse:
    """No account: the answer is the tracking code (and what the reporter may see), nothing internal.
    An address sends at most ``GISGRID_PUBLIC_REPORT_RATE`` new reports in 10 minutes (429 after)."""
    now, address = clock.now(), request.client.host if request.client else None
    if address and recent(session, action="public_report", client_addr=address, since=now - timedelta(minutes=10),
                          succeeded=True) >= get_settings().public_report_rate:
        raise TooManyAttempts("上报过于频繁，请稍后再试 / too many reports from this address: try again in 10 minutes",
                              where="client")
    case, created = workflow.intake(session, report.as_report(), actor=Actor("居民 / resident"), now=now,
                                    idempotency_key=idempotency_key)
    if created:
        record(session, actor="public", action="public_report", outcome="ok", object_type="case",
               object_id=case["case_no"], client_addr=address, at=now)
    session.commit()
    return JSONResponse(workflow.public_view(session, case["tracking_code"], clock.now()),
                        status_code=201 if created else 200)


@router.get("/public/cases/{tracking_code}", tags=["public"], summary="查询进度 / Follow a reported case")
def public_status(tracking_code: str = TRACKING, clock: Clock = Depends(get_clock),
                  session: Session = Depends(get_session)) -> dict:
    return workflow.public_view(session, tracking_code, clock.now())


@router.post("/public/cases/{tracking_code}/rating", tags=["public"], summary="评价 / Rate a closed case", responses=responses(409))
def public_rating(body: Rating, tracking_code: str = TRACKING, clock: Clock = Depends(get_clock),
                  session: Session = Depends(get_session)) -> dict:
    """Once, after closure, if the closing step did not already carry the reporter's rating."""
    workflow.rate(session, tracking_code, body.satisfaction, body.feedback, clock.now())
    session.commit()
    return workflow.public_view(session, tracking_code, clock.now())
