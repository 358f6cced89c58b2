from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, bbox_param
from gisgrid.core.paging import Page, page_params
from gisgrid.organisations import service

router = APIRouter(tags=["organisations"])
GEOJSON = {200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}}
GRID = Query(None, description="a grid code at any level; its children are included",
             examples=["510107001001001"])


@router.get("/units", response_class=Response, responses=GEOJSON, summary="驻区单位 / Stationed units")
def list_units(
    grid: str | None = GRID,
    kind: str | None = Query(None, description="e.g. 学校, 医院"),
    bbox: BBox | None = Depends(bbox_param),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> Response:
    """Units stationed in the area; `joined_nearest` marks those in no grid joined to the nearest."""
    return service.list_organisations(session, "stationed_units", grid=grid, kind=kind, bbox=bbox, page=page,
                                      scope=me.scope)


@router.get("/shops", response_class=Response, responses=GEOJSON, summary="商铺 / Shops")
def list_shops(
    grid: str | None = GRID,
    kind: str | None = Query(None, description="e.g. 餐饮, 零售"),
    bbox: BBox | None = Depends(bbox_param),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> Response:
    """Shops and street-front outlets (商网)."""
    return service.list_organisations(session, "shops", grid=grid, kind=kind, bbox=bbox, page=page,
                                      scope=me.scope)
