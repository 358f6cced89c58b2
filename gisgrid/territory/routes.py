from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE
from gisgrid.core.paging import Page, page_params
from gisgrid.territory import service

router = APIRouter(tags=["territory"])


@router.get("/subdistrict",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}},
    summary="街道边界 / Sub-district boundary",
)
def subdistrict(
    code: str | None = Query(None, pattern=r"^[0-9]{9}$", description="9-digit sub-district code"),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> Response:
    """The sub-district boundary (all of them at city scale) with area, grid counts, households, people."""
    return service.subdistricts(session, code=code, page=page, scope=me.scope)
