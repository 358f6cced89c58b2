from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.audit.service import record, record_now
from gisgrid.audit.trail import mark_audited
from gisgrid.auth.access import Principal, caller, needs
from gisgrid.auth.routes import client_addr
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import Forbidden, GisgridError, responses
from gisgrid.core.geojson import MEDIA_TYPE, BBox, bbox_param
from gisgrid.core.paging import JsonPage, Page, page_params
from gisgrid.core.tables import CSV, XLSX, csv_bytes, download, xlsx_bytes
from gisgrid.grids.service import grid_in_scope
from gisgrid.registry import service

router = APIRouter(tags=["buildings and people"])
GRID = Query(None, description="a grid code at any level; its children are included",
             examples=["510107001001001"])


@router.get("/buildings",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}},
    summary="楼栋列表 / List buildings",
)
def list_buildings(
    grid: str | None = GRID,
    bbox: BBox | None = Depends(bbox_param),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> Response:
    """Buildings as points in id order, with footprint, use, floors, households, people and grids."""
    return service.list_buildings(session, grid=grid, bbox=bbox, page=page, scope=me.scope)


@router.get("/buildings/{building_id}/households", summary="楼栋住户图 / Household diagram")
def household_diagram(
    building_id: int = Path(..., ge=1), me: Principal = Depends(needs("people")),
    session: Session = Depends(get_session),
) -> dict:
    """Floors × flats per entrance (单元): occupied, rented or vacant, members, key-group flags."""
    return service.household_diagram(session, building_id, scope=me.scope)


@router.get("/households", summary="住户 / Households", responses=responses(404))
def list_households(
    grid: str | None = GRID,
    building: int | None = Query(None, ge=1),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("people")),
    session: Session = Depends(get_session),
) -> JsonPage[dict[str, Any]]:
    """Households with their building, entrance, floor, room, occupancy and member count."""
    return service.list_households(session, grid=grid, building=building, page=page, scope=me.scope)


@router.get("/residents", summary="实有人口 / Residents (masked)")
def list_residents(
    grid: str | None = GRID,
    household: int | None = Query(None, ge=1),
    tag: str | None = Query(None, description="a key group, e.g. empty_nest_elderly"),
    page: Page = Depends(page_params),
    me: Principal = Depends(needs("people")),
    session: Session = Depends(get_session),
) -> JsonPage[dict[str, Any]]:
    """Residents with ID numbers and phones masked (`110101********123X`, `138****5678`), of the
    caller's grids only."""
    return service.list_residents(session, grid=grid, household=household, tag=tag, page=page, scope=me.scope)


@router.get("/residents/export", summary="导出居民（脱敏，留痕）/ Export a grid's residents (masked, audited)",
            response_class=Response, responses={200: {"content": {"text/csv": {}, XLSX: {}}}, **responses(403, 404)})
def export_residents(
    request: Request,
    grid: str = Query(..., max_length=18, description="a grid code at any level; its children are included",
                      examples=["510107001001001"]),
    format: Literal["csv", "xlsx"] = Query("csv"),
    me: Principal = Depends(caller),
    session: Session = Depends(get_session),
) -> Response:
    """Administrators only, a grid of their sub-district; ID numbers and phones masked exactly as
    in `/residents`. Every export and every refusal is in the audit log, with the row count."""
    entry = {"actor": me.username, "action": "export.residents", "object_type": "grid", "object_id": grid,
             "client_addr": client_addr(request)}
    try:
        if not me.can("admin"):
            raise Forbidden("只有管理员可以导出居民信息 / only administrators export residents", where="role")
        grid_in_scope(session, me, grid)
        headers, rows = service.export_residents(session, grid, scope=me.scope)
    except GisgridError as refusal:
        record_now(session, outcome="refused", **entry, detail={"format": format, "status": refusal.status})
        mark_audited(request)
        raise
    record(session, outcome="ok", **entry, detail={"format": format, "rows": len(rows)})
    session.commit()
    mark_audited(request)
    if format == "xlsx":
        return download(xlsx_bytes([("居民", headers, rows)]), XLSX, f"residents-{grid}.xlsx")
    return download(csv_bytes(headers, rows), CSV, f"residents-{grid}.csv")


class RevealBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    field: Literal["id_number", "phone"]
    reason: str = Field(min_length=4, max_length=500, description="why the full value is needed (audited)")


@router.post("/residents/{resident_id}/reveal", summary="查看完整信息 / Reveal a full ID number or phone (audited)",
             responses=responses(403))
def reveal(body: RevealBody, request: Request, resident_id: int = Path(..., ge=1, le=2_147_483_647),
           me: Principal = Depends(caller), session: Session = Depends(get_session)) -> dict:
    """Administrators only (of the resident's sub-district), with a reason; every reveal and
    every refusal is in the audit log."""
    entry = {"actor": me.username, "action": "reveal", "object_type": "resident",
             "object_id": str(resident_id), "client_addr": client_addr(request),
             "detail": {"field": body.field, "reason": body.reason}}
    if not me.can("admin"):
        record_now(session, outcome="refused", **entry)
        mark_audited(request)
        raise Forbidden("只有管理员可以查看完整信息 / only administrators reveal personal data", where="role")
    value = service.reveal(session, resident_id, body.field, scope=me.scope)
    record(session, outcome="ok", **entry)
    session.commit()
    mark_audited(request)
    return {"resident_id": resident_id, "field": body.field, "value": value}
