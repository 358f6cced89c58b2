from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.crs import to_wgs84
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, bbox_param
from gisgrid.core.paging import Page, page_params
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


@router.get("/lookup", summary="坐标查网格 / Which grids hold a point")
def lookup(
    lon: float = Query(..., ge=-180, le=180, description="longitude", examples=[104.043]),
    lat: float = Query(..., ge=-90, le=90, description="latitude", examples=[30.642]),
    crs: str = Query("WGS84", description="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx"),
    session: Session = Depends(get_session),
) -> dict:
    """The grid at every level with its code, name, lead and the lead's phone.

    A point outside every sub-district is answered (`inside: false`), not refused.
    """
    if crs.upper() not in ("WGS84", "EPSG:4326"):
        x, y = to_wgs84(lon, lat, crs)
        lon, lat = float(x), float(y)
    return service.lookup(session, lon, lat)


@router.get("/grids/{code}/ledger", summary="网格台帐 / Grid ledger")
def ledger(code: str, session: Session = Depends(get_session)) -> dict:
    """Buildings, households, people, party members, key groups by tag, units, shops and the
    team of a grid, rolled up over its children — the figures of its notice board (公示牌)."""
    return service.ledger(session, code)
