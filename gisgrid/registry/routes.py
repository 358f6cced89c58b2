from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, Page, bbox_param, page_params
from gisgrid.registry import service

router = APIRouter(tags=["buildings"])


@router.get(
    "/buildings",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}},
    summary="楼栋列表 / List buildings",
)
def list_buildings(
    bbox: BBox | None = Depends(bbox_param),
    page: Page = Depends(page_params),
    session: Session = Depends(get_session),
) -> Response:
    """Buildings as points in id order, with footprint, use, floors, households and people."""
    return service.list_buildings(session, bbox=bbox, page=page)
