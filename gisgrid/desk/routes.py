"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.cases.service import categories
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import CaseStatus
from gisgrid.desk import inbox, page

router = APIRouter(prefix="/desk", tags=["desk pages"])
CASES = Depends(needs("cases"))


# --- the inbox (desk-inbox) ---------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, summary="事件工作台 / The case inbox")
def inbox_page(
    request: Request,
    tab: str = Query("mine", max_length=20, description="mine, grids, due_soon, overdue, escalated, closed, all"),
    category: str | None = Query(None, max_length=40, description="a category or sub-type code"),
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
    filters = inbox.InboxFilter(category=category or None, grid=grid or None, status=status or None,
                                since=inbox.parse_day(since, "from"), until=inbox.parse_day(until, "to"))
    shown = inbox.page(session, me, filters, tab, now, cursor=cursor or None, limit=limit)
    return page.render(request, "inbox.html", me, lang, clock, tab=tab, tabs=inbox.tabs_of(me),
                       counts=inbox.counts(session, me, filters, now), shown=shown, filters=filters,
                       categories=categories(session), grids=inbox.grid_choices(session, me),
                       statuses=[s.value for s in CaseStatus], limit=limit)
