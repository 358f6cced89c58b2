"""HTTP for sub-district boundaries, administrators only: thin routes over
:mod:`gisgrid.onboarding.territory`. An administrator of one sub-district may replace only its
boundary; a new sub-district needs a city-wide administrator."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from gisgrid.audit.trail import mark_audited
from gisgrid.auth.access import Principal, needs
from gisgrid.auth.routes import client_addr
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import Forbidden
from gisgrid.core.paging import JsonPage, Page, page_params
from gisgrid.onboarding import territory
from gisgrid.onboarding.territory import MAX_FILE_BYTES, TooLarge

router = APIRouter(tags=["territory"])
CODE = PathParam(..., pattern=r"^[0-9]{9}$", description="9-digit sub-district code")


def _upload(file: UploadFile, folder: str) -> Path:
    """The upload in ``folder`` under its own base name (the report names it), read up to the cap."""
    base = re.sub(r"[^\w.\-]", "_", Path(file.filename or "").name)[-100:].lstrip(".") or "upload.geojson"
    path = Path(folder) / base
    with path.open("wb") as out:
        size = 0
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise TooLarge(f"文件超过 {MAX_FILE_BYTES // 2**20} MB / the file is larger than "
                               f"{MAX_FILE_BYTES // 2**20} MB", where="file")
            out.write(chunk)
    return path


@router.post("/territory/import", summary="导入街道边界 / Create a sub-district from a boundary file, or replace "
             "its boundary as a new version")
def import_territory(
    request: Request,
    file: UploadFile = File(..., description="GeoJSON, GeoPackage or zipped Shapefile"),
    code: str = Form(..., description="9 digits: GB/T 2260 county + 3-digit serial"),
    name: str = Form(..., min_length=1, max_length=100),
    crs: str | None = Form(None, max_length=50, description="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx"),
    dry_run: bool = Form(False, description="report everything, keep nothing"),
    county: str | None = Form(None, max_length=100),
    city: str | None = Form(None, max_length=100),
    layer: str | None = Form(None, max_length=100, description="layer name in a GeoPackage"),
    reason: str | None = Form(None, max_length=500, description="why (default: 导入边界 FILE)"),
    me: Principal = Depends(needs("admin")),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """The report the command line prints, as JSON: what was created or replaced, each feature,
    and for a replacement the impact on coverage."""
    if me.subdistrict is not None and code != me.subdistrict:
        raise Forbidden(f"只能替换本街道（{me.subdistrict}）的边界；新建街道需市级管理员 / you may replace only your own "
                        f"sub-district's boundary ({me.subdistrict}); a new one needs a city-wide administrator",
                        where="code")
    with tempfile.TemporaryDirectory() as folder:
        report = territory.import_boundary(session, _upload(file, folder), code=code, name=name, actor=me.username,
                                           crs=crs, layer=layer, county=county, city=city, reason=reason,
                                           dry_run=dry_run, client_addr=client_addr(request))
    session.commit()
    if not dry_run:
        mark_audited(request)  # the service's own entry says more than the request's would
    return report


@router.get("/territory", summary="街道列表 / Sub-districts with version, area, grids and last change")
def list_territory(page: Page = Depends(page_params), me: Principal = Depends(needs("admin")),
                   session: Session = Depends(get_session)) -> JsonPage[dict[str, Any]]:
    return territory.subdistricts(session, scope=me.scope, page=page)


@router.get("/territory/{subdistrict}/history", summary="街道边界沿革 / Every version of a sub-district")
def territory_history(subdistrict: str = CODE, me: Principal = Depends(needs("admin")),
                      session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    return territory.history(session, subdistrict, scope=me.scope)
