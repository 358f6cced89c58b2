"""HTTP for administrators: the readiness check (JSON and a page) and the sub-district export."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.auth.routes import client_addr
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.core.tables import download
from gisgrid.onboarding import check, export

router = APIRouter(tags=["onboarding"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SUBDISTRICT = Query(None, pattern=r"^[0-9]{9}$", description="9-digit sub-district code; default: the caller's")


@router.get("/check", summary="就绪检查 / What a sub-district still lacks", responses=responses(404))
def readiness(subdistrict: str | None = SUBDISTRICT, me: Principal = Depends(needs("admin")),
              session: Session = Depends(get_session)) -> dict[str, Any]:
    """Each gap (grids without an active lead per level, buildings outside every grid, residential
    buildings without households, households without residents, staff without an account or a
    grid, the coverage defects) with its `count` and its first `examples`; `ready` when none."""
    return check.readiness(session, subdistrict, me.scope).as_json()


PAGE = {
    "zh": {"title": "就绪检查", "lead": "开始网格化管理工作前尚需补齐的内容。", "ready": "已就绪：没有缺项。",
           "missing": "尚缺 {n} 项", "switch": "English", "export": "导出街道数据（可再导入）：",
           "all": "全部街道", "more": "另有 {n} 条"},
    "en": {"title": "Readiness check", "lead": "What is still missing before grid management can start.",
           "ready": "Ready: nothing is missing.", "missing": "{n} kinds of thing still missing", "switch": "中文",
           "export": "Export the sub-district (imports back): ", "all": "every sub-district", "more": "{n} more"},
}

@router.get("/admin/check", response_class=HTMLResponse, summary="就绪检查页 / The readiness check page",
            responses=responses(404))
def readiness_page(request: Request, subdistrict: str | None = SUBDISTRICT,
                   lang: Literal["zh", "en"] = Query("zh", description="zh 中文 or en English"),
                   me: Principal = Depends(needs("admin")), session: Session = Depends(get_session)) -> HTMLResponse:
    """The check as a page: each gap with its count and links to its first examples."""
    result = check.readiness(session, subdistrict, me.scope)
    return templates.TemplateResponse(request, "check.html", {
        "t": PAGE[lang], "lang": lang, "other": "en" if lang == "zh" else "zh", "r": result,
        "missing": sum(1 for gap in result.gaps if gap.count), "bar": account_bar(me, lang), "bar_css": BAR_CSS})


@router.get("/export", summary="导出街道（可再导入）/ Export a sub-district in a form the imports read back",
            response_class=Response, responses={200: {"content": {export.GPKG: {}, export.XLSX: {}}},
                                                **responses(404, 422)})
def export_subdistrict(
    request: Request,
    format: Literal["gpkg", "xlsx"] = Query(..., description="gpkg (GeoPackage, no residents) or xlsx (Excel)"),
    subdistrict: str | None = SUBDISTRICT,
    with_personal_data: bool = Query(False, description="xlsx only: residents' ID numbers and phones in full "
                                     "(written to the audit log)"),
    me: Principal = Depends(needs("admin")),
    session: Session = Depends(get_session),
) -> Response:
    """Boundary, grids of every level, buildings, units, shops, households, staff and their grids;
    the residents in the Excel form only, masked unless `with_personal_data`."""
    exported = export.export(session, subdistrict, me.scope, format=format, with_personal_data=with_personal_data,
                             actor=me.username, client_addr=client_addr(request))
    session.commit()  # the audit row of opened personal data goes out with the file
    return download(exported.content, exported.media_type, exported.filename)
