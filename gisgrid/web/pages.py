"""The landing page, in Chinese first with an English switch (``?lang=en``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.dependencies import get_session

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

TEXT = {
    "zh": {
        "title": "gisgrid 网格化管理", "tagline": "街道网格化综合服务 GIS 平台",
        "territory": "辖区概况", "subdistricts": "街道", "grids": "网格", "levels": "一级 / 二级 / 三级",
        "buildings": "楼栋", "households": "户数", "people": "人口",
        "api": "接口", "docs": "接口文档 (Swagger)", "redoc": "接口文档 (ReDoc)", "health": "服务状态",
        "data": "数据 (GeoJSON)", "maps": "地图", "map_coverage": "网格覆盖图：盲区、重叠、负荷", "map_edit": "网格边界编辑",
        "map_cases": "事件热力图", "layers": "图层（GeoJSON、矢量瓦片）",
        "residents": "居民服务", "report": "上报事件（地图选点，无需注册）", "track": "查询办理进度（查询码）",
        "coverage": "覆盖分析：盲区、重叠、越界、未入格、负荷", "lookup": "坐标查网格",
        "switch": "English", "switch_lang": "en", "empty": "数据库中还没有数据：运行 gisgrid demo 载入示范街道。",
    },
    "en": {
        "title": "gisgrid grid management", "tagline": "GIS for grid-based community management",
        "territory": "Territory", "subdistricts": "Sub-districts", "grids": "Grids", "levels": "L1 / L2 / L3",
        "buildings": "Buildings", "households": "Households", "people": "People",
        "api": "API", "docs": "API docs (Swagger)", "redoc": "API docs (ReDoc)", "health": "Health",
        "data": "Data (GeoJSON)", "maps": "Maps", "map_coverage": "Coverage map: blind spots, overlaps, load", "map_edit": "Boundary editor",
        "map_cases": "Case heatmap", "layers": "Layers (GeoJSON, vector tiles)",
        "residents": "For residents", "report": "Report a problem (pin on a map, no account)",
        "track": "Follow a reported case (tracking code)",
        "coverage": "coverage: blind spots, overlaps, spill-over, orphans, load", "lookup": "which grids hold a point",
        "switch": "中文", "switch_lang": "zh", "empty": "No data yet: run gisgrid demo to load the demo sub-district.",
    },
}


@router.get("/", response_class=HTMLResponse)
def landing(
    request: Request,
    lang: str = Query("zh", pattern="^(zh|en)$"),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    figures = session.execute(text("""
        SELECT (SELECT count(*) FROM subdistricts),
               (SELECT count(*) FROM grids WHERE level = 1 AND retired_at IS NULL),
               (SELECT count(*) FROM grids WHERE level = 2 AND retired_at IS NULL),
               (SELECT count(*) FROM grids WHERE level = 3 AND retired_at IS NULL),
               (SELECT count(*) FROM buildings),
               (SELECT count(*) FROM households WHERE occupancy <> 'vacant'),
               (SELECT coalesce(sum(member_count), 0) FROM households)
    """)).one()
    names = session.execute(text("SELECT name FROM subdistricts ORDER BY code LIMIT 3")).scalars().all()
    return templates.TemplateResponse(
        request,
        "index.html",
        {"t": TEXT[lang], "lang": lang, "figures": figures, "names": names},
    )


SIGN_IN = {
    "zh": {"title": "登录", "username": "用户名", "password": "密码", "code": "动态口令（已启用时填写）", "submit": "登录",
           "switch": "English", "report": "居民上报事件（无需登录）"},
    "en": {"title": "Sign in", "username": "Username", "password": "Password",
           "code": "Authenticator code (if you set one up)", "submit": "Sign in", "switch": "中文",
           "report": "Residents: report a problem (no account)"},
}


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, lang: str = Query("zh", pattern="^(zh|en)$"),
                 next: str | None = Query(None, max_length=2000)) -> HTMLResponse:
    return templates.TemplateResponse(request, "sign_in.html", {
        "lang": lang, "other": "en" if lang == "zh" else "zh", "t": SIGN_IN[lang], "next": safe_next(next)})
