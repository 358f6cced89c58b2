from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.paging import JsonPage, Page, page_params
from gisgrid.staff import service

router = APIRouter(tags=["staff"])


@router.get("/staff", summary="网格工作人员 / Staff on grids")
def list_staff(
    grid: str | None = Query(None, description="a grid code; its children's teams are included"),
    role: str | None = Query(None, description="grid_lead, full_time_worker, … community_police …"),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("people")),
    session: Session = Depends(get_session),
) -> JsonPage[dict[str, Any]]:
    """Who works on which grid in which role (网格长, 专职网格员, 协管员 …), with work phones; the
    caller's grids only."""
    return service.list_staff(session, grid=grid, role=role, page=page, scope=me.scope)
