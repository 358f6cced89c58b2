"""HTTP for reading cases: a filtered list and the density behind the case heatmap."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from gisgrid.cases import service
from gisgrid.cases.service import CaseFilter, parse_cell
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import BBox, bbox_param
from gisgrid.core.paging import Page, page_params

router = APIRouter(tags=["cases"])


def case_filter(
    subdistrict: str | None = Query(None, description="sub-district code"),
    category: str | None = Query(None, description="category or sub-type code", examples=["urban_management"]),
    status: str | None = Query(None, description="open, closed, or a status such as dispatched"),
    since: date | None = Query(None, alias="from", description="reported on or after (YYYY-MM-DD)"),
    until: date | None = Query(None, alias="to", description="reported on or before (YYYY-MM-DD)"),
    bbox: BBox | None = Depends(bbox_param),
    cell: str | None = Query(None, description="a hexagon from /cases/density?mode=hex: its 'cell' property"),
) -> CaseFilter:
    return CaseFilter(subdistrict, category, status, since, until, bbox, parse_cell(cell))


@router.get("/cases", summary="事件列表 / Cases")
def list_cases(filters: CaseFilter = Depends(case_filter), page: Page = Depends(page_params),
               session: Session = Depends(get_session)) -> dict:
    """Newest first, with category, status, location and the L2 grid it was reported in."""
    return service.list_cases(session, filters, page)


@router.get("/cases/density", summary="事件密度 / Case density for the heatmap")
def density(filters: CaseFilter = Depends(case_filter),
            mode: Literal["heat", "hex"] = Query("heat", description="heat: weighted points; hex: hexagon counts"),
            size: float = Query(150, description="hexagon edge length in metres (hex mode)"),
            session: Session = Depends(get_session)) -> dict:
    """Counted in the database: a few thousand weighted points, or counts per hexagon."""
    if mode == "hex":
        return service.hexagons(session, filters, size)
    return service.heat(session, filters)


@router.get("/case-categories", summary="事件类别 / The eight information categories")
def categories(session: Session = Depends(get_session)) -> list[dict]:
    return service.categories(session)
