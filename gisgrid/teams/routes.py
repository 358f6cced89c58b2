"""HTTP for teams (the ``teams`` function: administrators, community managers in their zone):
staff records and their roles on grids, as ledger records with versions (``If-Match``),
history, audit rows and ``Idempotency-Key``; and the pages ``/admin/teams`` and
``/admin/accounts`` over this API and the accounts API."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import Field
from sqlalchemy.orm import Session

from gisgrid.auth import accounts
from gisgrid.auth.access import Principal, needs
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.auth.routes import client_addr
from gisgrid.cases.calendar import work_calendar
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import Role, Sex, StaffRole
from gisgrid.core.errors import responses
from gisgrid.core.paging import Page, page_params
from gisgrid.grids.editing import parse_if_match
from gisgrid.ledger import records
from gisgrid.ledger.records import Editor
from gisgrid.ledger.routes import IDEMPOTENCY_KEY, IF_MATCH, WRITE, Body, Day, EndBody, Reason, once
from gisgrid.teams import service
from gisgrid.teams.service import ASSIGNMENTS, STAFF
from gisgrid.teams.texts import ROLE_EN, TEXT

router = APIRouter(tags=["teams"])
templates = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
GRID_CODE = Annotated[str, Field(pattern="^[0-9]{12,18}$", description="a grid code at any level")]
Name = Annotated[str, Field(min_length=1, max_length=50)]
Phone = Annotated[str, Field(min_length=7, max_length=20, description="a work number: mobile, or fixed line with "
                             "its area code")]
Title = Annotated[str, Field(max_length=100, description="post or employer")]
# a Path is bound to its parameter's name once used: one each
STAFF_ID = Path(..., ge=1, le=2_147_483_647)
ASSIGNMENT_ID = Path(..., ge=1, le=2_147_483_647)


class StaffFields(Body):
    name: Name | None = None
    sex: Sex | None = None
    phone: Phone | None = None
    title: Title | None = None
    party_member: bool | None = None
    active: bool | None = Field(None, description="false: kept on record but not routed cases nor shown on boards")
    reason: Reason


class NewStaff(Body):
    name: Name
    sex: Sex | None = None
    phone: Phone
    title: Title | None = None
    party_member: bool = False
    grid: GRID_CODE | None = Field(None, description="their first grid (required for a community manager)")
    role: StaffRole | None = Field(None, description="their role on it")
    reason: Reason = "新登记 / registered"


class NewAssignment(Body):
    staff_id: Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)]
    grid: GRID_CODE
    role: StaffRole
    reason: Reason


class Release(Body):
    ended_on: Day = Field(description="the day the person leaves their grids")
    reason: Reason


def editor(request: Request, me: Principal = Depends(needs("teams"))) -> Editor:
    return Editor(me.username, me.scope, client_addr(request))


def _today(clock: Clock) -> date:
    return clock.now().astimezone(work_calendar().zone).date()


@router.get("/teams", summary="网格团队 / Staff, their roles on grids, grids without a lead")
def teams(grid: str | None = Query(None, pattern="^[0-9]{9,18}$", description="a grid code: it and its children"),
          page: Page = Depends(page_params), me: Principal = Depends(needs("teams")),
          session: Session = Depends(get_session)) -> dict[str, Any]:
    """A page of the people of the caller's scope with their current roles on its grids; every
    grid there without an active lead; the roles a person may take."""
    return service.team(session, me.scope, grid=grid, page=page)


@router.post("/staff", status_code=201, summary="登记工作人员 / Register a staff member",
             responses={200: {"description": "a retry with the same Idempotency-Key: the first result"},
                        **responses(404, 409)})
def create_staff(body: NewStaff, request: Request, who: Editor = Depends(editor), key: str | None = IDEMPOTENCY_KEY,
                 clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> Any:
    """With ``grid`` and ``role``, their first role in the same transaction (a new lead replaces
    the grid's lead). One current person per work phone (409)."""
    fields = body.model_dump(exclude={"reason", "grid", "role"})
    return once(session, request, key, who, STAFF, "create", None, lambda: (service.create_staff(
        session, who, fields, grid=body.grid, role=body.role, reason=body.reason, today=_today(clock)), 201))


@router.patch("/staff/{staff_id:int}", summary="修改工作人员 / Change a staff member", responses=WRITE)
def change_staff(body: StaffFields, request: Request, staff_id: int = STAFF_ID, who: Editor = Depends(editor),
                 if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
                 session: Session = Depends(get_session)) -> Any:
    fields = body.model_dump(exclude={"reason"}, exclude_unset=True)
    return once(session, request, key, who, STAFF, "update", staff_id, lambda: (service.change_staff(
        session, who, staff_id, fields, expected=parse_if_match(if_match), reason=body.reason), 200))


@router.post("/staff/{staff_id:int}/release", summary="人员离任 / Release a person from their grids",
             responses=responses(404, 409))
def release(body: Release, request: Request, staff_id: int = STAFF_ID, who: Editor = Depends(editor),
            key: str | None = IDEMPOTENCY_KEY, session: Session = Depends(get_session)) -> Any:
    """Every current role of the person on the caller's grids ends (``released``); the answer
    lists the ended roles (``ended``) and the grids left without a lead (``without_lead``)."""
    return once(session, request, key, who, STAFF, "release", staff_id, lambda: (service.release(
        session, who, staff_id, on=body.ended_on, reason=body.reason), 200))


@router.get("/staff/{staff_id:int}/history", summary="工作人员的变更历史 / A staff member's history",
            responses=responses(404))
def staff_history(staff_id: int = STAFF_ID, who: Editor = Depends(editor),
                  session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    return records.history(session, STAFF, staff_id, who.scope)


@router.post("/assignments", status_code=201, summary="分配网格职责 / Give a person a role on a grid",
             responses={200: {"description": "a retry with the same Idempotency-Key: the first result"},
                        **responses(404, 409)})
def assign(body: NewAssignment, request: Request, who: Editor = Depends(editor), key: str | None = IDEMPOTENCY_KEY,
           clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> Any:
    """网格长, 专职网格员, 兼职网格员, 楼栋长, 社区民警, 志愿者 …; one lead per grid: a new lead
    ends the previous lead's assignment (``reassigned``, shown as ``replaced``) in the same
    transaction."""
    return once(session, request, key, who, ASSIGNMENTS, "create", None, lambda: (service.assign(
        session, who, staff_id=body.staff_id, grid=body.grid, role=body.role, reason=body.reason,
        today=_today(clock)), 201))


@router.post("/assignments/{assignment_id:int}/end", summary="结束网格职责 / End a role on a grid "
             "(released, reassigned)", responses=WRITE)
def end_assignment(body: EndBody, request: Request, assignment_id: int = ASSIGNMENT_ID, who: Editor = Depends(editor),
                   if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
                   session: Session = Depends(get_session)) -> Any:
    """The answer's ``without_lead`` holds the grid when this was its lead."""
    return once(session, request, key, who, ASSIGNMENTS, "end", assignment_id, lambda: (
        service.end_assignment(
        session, who, assignment_id, expected=parse_if_match(if_match), on=body.ended_on,
        end_reason=body.end_reason, reason=body.reason), 200))


@router.get("/assignments/{assignment_id:int}/history", summary="网格职责的变更历史 / An assignment's history",
            responses=responses(404))
def assignment_history(assignment_id: int = ASSIGNMENT_ID, who: Editor = Depends(editor),
                       session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    return records.history(session, ASSIGNMENTS, assignment_id, who.scope)


LANG = Query("zh", description="zh 中文 or en English")
GRID_CHOICES = 3000  # the assign form's grid list; a larger area is narrowed with ?grid=


def _page(request: Request, name: str, lang: str, me: Principal, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {
        "t": TEXT[lang], "lang": lang, "other": "en" if lang == "zh" else "zh", "bar": account_bar(me, lang),
        "bar_css": BAR_CSS, "role_en": ROLE_EN, "me": me,
        "account_roles": {r.value: r.label_zh if lang == "zh" else r.value.replace("_", " ") for r in Role}, **context})


@router.get("/admin/teams", response_class=HTMLResponse, summary="网格团队页 / The teams page")
def teams_page(request: Request, grid: str | None = Query(None, pattern="^[0-9]{9,18}$"),
               lang: Literal["zh", "en"] = LANG, page: Page = Depends(page_params),
               me: Principal = Depends(needs("teams")), session: Session = Depends(get_session)) -> HTMLResponse:
    """The staff list with each person's roles, an assign form (one lead per grid), a release
    button (the grids left without a lead are listed), and the grids needing a lead."""
    return _page(request, "teams.html", lang, me, team=service.team(session, me.scope, grid=grid, page=page),
                 grids=service.grid_choices(session, me.scope, grid=grid, limit=GRID_CHOICES), grid=grid)


@router.get("/admin/accounts", response_class=HTMLResponse, summary="账号管理页 / The accounts page")
def accounts_page(request: Request, lang: Literal["zh", "en"] = LANG, page: Page = Depends(page_params),
                  me: Principal = Depends(needs("teams")), clock: Clock = Depends(get_clock),
                  session: Session = Depends(get_session)) -> HTMLResponse:
    """Accounts the caller manages: create, disable, enable, reset a password (the same
    service functions as ``gisgrid accounts``)."""
    now: datetime = clock.now()
    listed = accounts.accounts(session, within=me.subdistrict, zone=me.community[1] if me.community else None,
                               page=page, now=now)
    creatable = [Role.GRID_WORKER] if me.role is Role.COMMUNITY_MANAGER else list(Role)
    return _page(request, "accounts.html", lang, me, accounts=listed, roles=creatable)
