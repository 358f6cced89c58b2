from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, Page, bbox_param, page_params
from gisgrid.grids import service

router = APIRouter(tags=["grids"])


@router.get(
    "/grids",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}},
    summary="网格列表 / List grids",
)
def list_grids(
    level: int | None = Query(None, ge=1, le=3, description="1 社区片区, 2 网格, 3 微网格"),
    parent: str | None = Query(None, description="parent grid code", examples=["510107001001"]),
    bbox: BBox | None = Depends(bbox_param),
    page: Page = Depends(page_params),
    session: Session = Depends(get_session),
) -> Response:
    """Grids as GeoJSON in code order, each with its households and people, and `numberMatched`."""
    return service.list_grids(session, level=level, parent=parent, bbox=bbox, page=page)
