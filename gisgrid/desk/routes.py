"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import CaseStatus
from gisgrid.desk import page, supervise

router = APIRouter(prefix="/desk", tags=["desk pages"])


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
