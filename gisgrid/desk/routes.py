"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, caller, get_actor, needs
from gisgrid.cases.routes import scoped_case
from gisgrid.cases.service import categories
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import Actor, get_session
from gisgrid.core.enums import CaseStatus
from gisgrid.core.errors import responses
from gisgrid.core.settings import get_settings
from gisgrid.desk import case, inbox, page, report, supervise, texts
from gisgrid.desk.page import LANG, render
from gisgrid.pagekit import basemap

router = APIRouter(prefix="/desk", tags=["desk pages"])
CASES = Depends(needs("cases"))


# --- the inbox (desk-inbox) ---------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, summary="事件工作台 / The case inbox")
def inbox_page(
    request: Request,
    tab: str = Query("mine", max_length=20, description="mine, grids, due_soon, overdue, escalated, closed, all"),
    category: str | None = Query(None, max_length=40, description="a category or sub-type code"),
    subdistrict: str | None = Query(None, max_length=12, description="reported in this sub-district (its code)"),
    grid: str | None = Query(None, max_length=30, description="reported in this grid (a code of any level)"),
    status: str | None = Query(None, max_length=20, description="open, closed, or a status"),
    since: str | None = Query(None, alias="from", max_length=10, description="reported on or after (YYYY-MM-DD)"),
    until: str | None = Query(None, alias="to", max_length=10, description="reported on or before (YYYY-MM-DD)"),
    cursor: str | None = Query(None, max_length=400, description="the next page's cursor, as the page links it"),
    limit: int = Query(50, ge=1, le=200, description="cases per page"),
    lang: str = page.LANG, me: Principal = CASES, clock: Clock = Depends(get_clock),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """The caller's cases by tab (waiting for my step, my area's open cases, due soon, overdue,
    escalated to me, recently closed, all), each with its working-hours clock, counted per tab
    with the filters applied, a page at a time."""
    now = clock.now()
    filters = inbox.InboxFilter(category=category or None, subdistrict=subdistrict or None, grid=grid or None, status=status or None,
                                since=inbox.parse_day(since, "from"), until=inbox.parse_day(until, "to"))
    shown = inbox.page(session, me, filters, tab, now, cursor=cursor or None, limit=limit)
    return page.render(request, "inbox.html", me, lang, clock, tab=tab, tabs=inbox.tabs_of(me),
                       counts=inbox.counts(session, me, filters, now), shown=shown, filters=filters,
                       categories=categories(session), grids=inbox.grid_choices(session, me),
                       statuses=[s.value for s in CaseStatus], limit=limit)


# --- the field report form ----------------------------------------------------------------------

REPORT_WORDS = ("category", "subtype", "place", "locating", "locate", "no_place", "from_device", "from_pin",
                "no_geolocation", "remove", "photo_sent", "photo_failed", "too_many", "send", "sending_photo",
                "kept", "case_made", "bad_image")
PHOTO = {"longest": 1600, "quality": 0.8, "most": 9}  # resized on the phone before upload; a step files 20 at most


@router.get("/report", response_class=HTMLResponse, summary="上报事件 / Report a case from the field")
def report_page(request: Request, lang: str = page.LANG,
                grid: str | None = Query(None, max_length=18, description="frame the map on this grid of mine"),
                me: Principal = CASES, clock: Clock = Depends(get_clock),
                session: Session = Depends(get_session)) -> HTMLResponse:
    """Phone first: category and sub-type, title and description, the place from the device
    (WGS84) or a pin on a map framed on the caller's own grids, photos from the camera resized
    on the phone; sent to ``POST /cases`` and ``POST /cases/{no}/attachments`` with a key each."""
    tiles = basemap.tile_url()
    settings = get_settings()
    frame = {**report.frame(session, me), "focus": grid, "tiles": tiles, "blank": basemap.BLANK,
             "attribution": settings.basemap_attribution if tiles != basemap.BLANK else "gisgrid"}
    kinds = categories(session)
    config = {"map": frame, "basemap_crs": settings.basemap_crs, "photo": PHOTO,
              "reporter": {"name": report.reporter_name(session, me), "staff_id": me.staff_id},
              "subtypes": {c["code"]: [[s["code"], s["name_zh"] if lang == "zh" else s["name_en"]]
                                       for s in c["subtypes"]] for c in kinds}}
    return page.render(request, "report.html", me, lang, clock, script_words=REPORT_WORDS, config=config,
                       categories=kinds, photo=PHOTO)


# --- supervisor views (超期督办) ----------------------------------------------------------------
# needs("reports"): the community manager, the sub-district's administrator (the leading group)
# and its viewers supervise; a grid worker has the overdue tab of their own inbox instead.

@router.get("/overdue", response_class=HTMLResponse, summary="超期督办 / Overdue cases by grid and by worker")
def overdue_page(request: Request, lang: str = page.LANG, me: Principal = Depends(needs("reports")),
                 clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> HTMLResponse:
    """The caller's open cases past their stage's deadline, by community, grid and holder, each
    row with its longest overdue case and a link to the inbox filtered to it."""
    statuses = {s.value: s.label_zh if lang == "zh" else s.value.replace("_", " ") for s in CaseStatus}
    return page.render(request, "overdue.html", me, lang, clock, statuses=statuses,
                       v=supervise.overdue(session, me.scope, clock.now()))


# --- the case page ------------------------------------------------------------------------------

@router.get("/cases/{case_no}", response_class=HTMLResponse, dependencies=[Depends(needs("cases"))],
            summary="事件办理页 / A case, its timeline and the steps I may take", responses=responses(404))
def case_page(request: Request, case_no: str = Depends(scoped_case), lang: str = LANG,
              me: Principal = Depends(caller), actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
              session: Session = Depends(get_session)) -> HTMLResponse:
    """The place on a small map, what was reported, the attachments, every step so far, who holds
    it and until when, and a button for each step the workflow accepts from the caller now; the
    page's script sends them to the cases' API with the case's version (``If-Match``)."""
    statuses = case.status_names(lang)
    view = case.case_page(session, case_no, scope=me.scope, actor=actor, now=clock.now())
    tiles = basemap.tile_url()
    place = view["case"]["location"]
    frame = {**view["map"], "point": [place["lat"], place["lon"]], "grid": view["case"]["grids"]["l2"],
             "tiles": tiles, "blank": basemap.BLANK,
             "attribution": get_settings().basemap_attribution if tiles != basemap.BLANK else "gisgrid"}
    return render(request, "case.html", me, lang, clock, script_words=texts.CASE_SCRIPT_WORDS,
                  config={"case_no": case_no, "etag": view["etag"], "steps": view["steps"], "map": frame,
                          "basemap_crs": get_settings().basemap_crs, "statuses": statuses,
                          "timezone": get_settings().timezone},
                  c=view["case"], steps=view["steps"], names=view["names"], statuses=statuses)
