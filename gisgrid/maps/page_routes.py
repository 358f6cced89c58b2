"""HTTP for the map pages and the plain offline basemap."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path as PathLib

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.cases import pages as case_pages
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.grids.service import grid_in_scope
from gisgrid.maps import boards, pages
from gisgrid.pagekit import basemap, page

router = APIRouter(tags=["map pages"])
templates = Jinja2Templates(directory=PathLib(__file__).parent / "templates")
LANG = Query("zh", pattern="^(zh|en)$", description="zh 中文 or en English")
NO_SUBDISTRICT = responses(404)  # a sub-district code that is not loaded


@router.get("/map/coverage", response_class=HTMLResponse, summary="网格覆盖图 / The coverage map",
            responses=NO_SUBDISTRICT)
def coverage_map(request: Request, subdistrict: str | None = Query(None, description="sub-district code"),
                 lang: str = LANG, me: Principal = Depends(needs("maps")),
                 session: Session = Depends(get_session)) -> HTMLResponse:
    return HTMLResponse(pages.coverage_page(session, request.app.state.layers, me, subdistrict=subdistrict, lang=lang))


BOARD_TEXT = {
    "zh": {"board": "网格公示牌", "code": "编码", "responsible": "网格责任人", "lead": "网格长", "hours": "服务时间",
           "figures": "网格概况", "buildings": "楼栋", "households": "户数", "rented": "出租户", "people": "人口",
           "party": "党员", "units": "驻区单位", "shops": "商铺", "care": "关爱服务对象（人数）",
           "footer": "横向到底、纵向到边，有事请找网格员。", "switch": "English", "print": "打印",
           "diagram": "居民楼住户状况显示图", "floors": "层", "vacant": "空置", "owner": "自住",
           "entrance": "单元", "persons": "人"},
    "en": {"board": "Grid notice board", "code": "code", "responsible": "Responsible people", "lead": "grid lead",
           "hours": "Service hours", "figures": "The grid", "buildings": "Buildings", "households": "Households",
           "rented": "rented", "people": "People", "party": "Party members", "units": "Stationed units",
           "shops": "Shops", "care": "People we look after (count)",
           "footer": "Every household, every corner: your grid worker is here to help.", "switch": "中文",
           "print": "Print", "diagram": "Household diagram", "floors": "floors", "vacant": "vacant",
           "owner": "owner-occupied", "entrance": "entrance", "persons": " p."},
}


def _lang(lang: str) -> tuple[dict, str]:
    page.check_lang(lang)
    return BOARD_TEXT[lang], "en" if lang == "zh" else "zh"


@router.get("/map/edit", response_class=HTMLResponse, summary="网格边界编辑 / The boundary editor",
            responses=NO_SUBDISTRICT)
def edit_map(request: Request, subdistrict: str | None = Query(None, description="sub-district code"),
             level: int = Query(2, description="the level of grids to edit"), lang: str = LANG,
             me: Principal = Depends(needs("edit")), session: Session = Depends(get_session)) -> HTMLResponse:
    return HTMLResponse(pages.edit_page(session, request.app.state.layers, me, subdistrict=subdistrict, level=level,
                                        lang=lang))


@router.get("/map/cases", response_class=HTMLResponse, summary="事件热力图 / The case heatmap",
            responses=NO_SUBDISTRICT)
def cases_map(request: Request, subdistrict: str | None = Query(None, description="sub-district code"),
              lang: str = LANG, me: Principal = Depends(needs("maps")),
              session: Session = Depends(get_session)) -> HTMLResponse:
    return HTMLResponse(case_pages.cases_page(session, request.app.state.layers, me, subdistrict=subdistrict, lang=lang))


@router.get("/report", response_class=HTMLResponse, summary="居民上报 / The residents' report form", responses=NO_SUBDISTRICT)
def report_form(request: Request, subdistrict: str | None = Query(None, description="sub-district code"),
                lang: str = LANG, session: Session = Depends(get_session)) -> HTMLResponse:
    """No account: a pin on the map, a category and a title; the answer is a tracking code."""
    return HTMLResponse(case_pages.report_page(session, request.app.state.layers, subdistrict=subdistrict,
                                               lang=lang))


@router.get("/track", response_class=HTMLResponse, summary="进度查询 / Follow a reported case")
def track(lang: str = LANG) -> HTMLResponse:
    """The tracking code is typed in, or given as ``?code=``: the page's script reads it."""
    return HTMLResponse(case_pages.track_page(lang=lang))


@router.get("/grids/{code}/board", response_class=HTMLResponse, summary="网格公示牌 / The grid notice board")
def notice_board(request: Request, code: str, lang: str = LANG, me: Principal = Depends(needs("maps")),
                 session: Session = Depends(get_session)):
    """The printable 公示牌 (one A4 page): map, code, name, lead and team with phones, figures,
    key-group counts (never names), service hours."""
    t, other = _lang(lang)
    grid_in_scope(session, me, code)
    data = boards.board(session, code)
    return templates.TemplateResponse(request, "board.html", {
        "t": t, "lang": lang, "other": other, "l": data["ledger"], "svg": data["svg"],
        "hours": data["service_hours"], "key_groups": data["key_groups"], "bar": account_bar(me, lang) + BAR_CSS})


@router.get("/buildings/{building_id}/diagram", response_class=HTMLResponse,
            summary="居民楼住户状况显示图 / Household diagram of a building")
def building_diagram(request: Request, building_id: int, lang: str = LANG, me: Principal = Depends(needs("people")),
                     session: Session = Depends(get_session)):
    """Floors × flats per entrance, each household coloured by status with its key-group flags
    (staff only, once accounts exist)."""
    t, other = _lang(lang)
    data = boards.diagram(session, building_id, scope=me.scope)
    return templates.TemplateResponse(request, "diagram.html", {
        "t": t, "lang": lang, "other": other, "b": data["building"], "entrances": data["entrances"],
        "totals": data["totals"], "key_groups": data["key_groups"], "short": data["short"],
        "bar": account_bar(me, lang) + BAR_CSS})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    return FileResponse(files("fastapi_offline") / "static" / "favicon.png", media_type="image/png")


@lru_cache
def _blank_png() -> bytes:
    """A 256 × 256 tile of one pale colour: the basemap of an isolated network with no tiles."""
    width = height = 256
    raw = b"".join(b"\x00" + bytes((242, 239, 233)) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


@router.get(basemap.BLANK, include_in_schema=False)
def blank_tile(z: int = Path(..., ge=0, le=24), x: int = Path(..., ge=0), y: int = Path(..., ge=0)) -> Response:
    return Response(_blank_png(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
