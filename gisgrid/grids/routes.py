from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs, needs_async
from gisgrid.core.clock import Moment
from gisgrid.core.crs import to_wgs84
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, bbox_param
from gisgrid.core.paging import Page, page_params
from gisgrid.grids import history, service
from gisgrid.grids.service import grid_in_scope

router = APIRouter(tags=["grids"])
LOOKUP_EXAMPLE = {
    "lon": 104.043, "lat": 30.642, "inside": True,
    "subdistrict": {"code": "510107001", "name": "锦城街道"},
    "grids": [
        {"level": 1, "code": "510107001005", "name": "玉林社区", "lead": "王芳", "lead_phone": "13812345678"},
        {"level": 2, "code": "510107001005003", "name": "玉林社区第3网格", "lead": "李强", "lead_phone": "13912345678"},
        {"level": 3, "code": "510107001005003002", "name": "玉林社区第3网格2号微网格", "lead": "张伟",
         "lead_phone": "13712345678"},
    ],
    "message": "ok",
}


@router.get("/grids",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}},
    summary="网格列表 / List grids",
)
def list_grids(
    level: int | None = Query(None, ge=1, le=3, description="1 社区片区, 2 网格, 3 微网格"),
    parent: str | None = Query(None, description="parent grid code", examples=["510107001001"]),
    bbox: BBox | None = Depends(bbox_param),
    as_of: Moment | None = Query(None, description="the layer as it stood at this moment (with time zone)",
                                   examples=["2026-05-01T00:00:00+08:00"]),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> Response:
    """Grids as GeoJSON in code order, each with its households and people, and `numberMatched`;
    with `as_of`, the grids (codes, names, shapes) of that moment, from their history."""
    if as_of is not None:
        return history.layer_as_of(session, as_of, level=level, parent=parent, bbox=bbox, page=page,
                                   scope=me.scope)
    return service.list_grids(session, level=level, parent=parent, bbox=bbox, page=page, scope=me.scope)


class SubDistrictRef(BaseModel):
    code: str
    name: str


class GridAtPoint(BaseModel):
    level: int
    code: str
    name: str
    lead: str | None
    lead_phone: str | None


class LookupAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [LOOKUP_EXAMPLE]})

    lon: float
    lat: float
    inside: bool = Field(description="whether the point lies in a sub-district")
    subdistrict: SubDistrictRef | None
    grids: list[GridAtPoint] = Field(description="the grid holding the point at each level")
    message: str


@router.get("/lookup", summary="坐标查网格 / Which grids hold a point")
async def lookup(
    request: Request,
    lon: float = Query(..., ge=-180, le=180, description="longitude", examples=[104.043]),
    lat: float = Query(..., ge=-90, le=90, description="latitude", examples=[30.642]),
    crs: str = Query("WGS84", description="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx"),
    me: Principal = Depends(needs_async("maps")),
) -> LookupAnswer:
    """The grid at every level with its code, name, lead and the lead's phone.

    A point outside every sub-district is answered (`inside: false`), not refused. The hot path:
    one prepared statement on the async pool, serialised by pydantic-core. Grids outside the
    caller's scope are left out, as if the point were in none.
    """
    if crs.upper() not in ("WGS84", "EPSG:4326"):
        x, y = to_wgs84(lon, lat, crs)
        lon, lat = float(x), float(y)
    return await service.lookup_async(request.app.state.pool, lon, lat, me.sees_code)


@router.get("/grids/{code}/ledger", summary="网格台帐 / Grid ledger")
def ledger(code: str, me: Principal = Depends(needs("people")), session: Session = Depends(get_session)) -> dict:
    """Buildings, households, people, party members, key groups by tag, units, shops and the
    team of a grid, rolled up over its children — the figures of its notice board (公示牌)."""
    grid_in_scope(session, me, code)
    return service.ledger(session, code)
