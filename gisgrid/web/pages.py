"""The landing page, in Chinese first with an English switch (``?lang=en``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth import service as auth
from gisgrid.auth.access import COOKIE, principal_for_token, token_of
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.scope import WHOLE, Scope
from gisgrid.grids import service as grids

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

TEXT = {
    "zh": {
        "title": "gisgrid 网格化管理", "tagline": "街道网格化综合服务 GIS 平台",
        "territory": "辖区概况", "area": "我的辖区", "subdistricts": "街道", "grids": "网格", "levels": "一级 / 二级 / 三级",
        "buildings": "楼栋", "households": "户数", "people": "人口",
        "api": "接口", "docs": "接口文档 (Swagger)", "redoc": "接口文档 (ReDoc)", "health": "服务状态",
        "work": "我的工作", "field": "网格员工作台：我的网格、楼栋、住户与走访", "map_coverage": "网格覆盖图：盲区、重叠、负荷", "map_edit": "网格边界编辑",
        "map_cases": "事件热力图", "weekly": "网格化管理工作周报", "layers": "图层（GeoJSON、矢量瓦片）",
        "audit": "审计日志", "residents": "居民服务", "report": "上报事件（地图选点，无需注册）",
        "track": "查询办理进度（查询码）", "sign_in": "工作人员登录",
        "switch": "English", "switch_lang": "en", "empty": "数据库中还没有数据：运行 gisgrid demo 载入示范街道。",
        "table_l1": "各社区", "table_l2": "网格一览", "code": "编码", "name": "名称", "lead": "网格长",
        "band": "标准", "board": "公示牌", "open": "查看网格", "no_lead": "未配备", "under": "偏少", "within": "达标",
        "over": "超标", "my_buildings": "楼栋（住户状况图）", "households_unit": "户", "back": "返回全街道",
    },
    "en": {
        "title": "gisgrid grid management", "tagline": "GIS for grid-based community management",
        "territory": "Territory", "area": "My area", "subdistricts": "Sub-districts", "grids": "Grids",
        "levels": "L1 / L2 / L3", "buildings": "Buildings", "households": "Households", "people": "People",
        "api": "API", "docs": "API docs (Swagger)", "redoc": "API docs (ReDoc)", "health": "Health",
        "work": "My work", "field": "Grid worker's desk: my grids, buildings, households, visits", "map_coverage": "Coverage map: blind spots, overlaps, load", "map_edit": "Boundary editor",
        "map_cases": "Case heatmap", "weekly": "Weekly report", "layers": "Layers (GeoJSON, vector tiles)",
        "audit": "Audit log", "residents": "For residents", "report": "Report a problem (pin on a map, no account)",
        "track": "Follow a reported case (tracking code)", "sign_in": "Staff sign-in",
        "switch": "中文", "switch_lang": "zh", "empty": "No data yet: run gisgrid demo to load the demo sub-district.",
        "table_l1": "Communities", "table_l2": "Grids", "code": "Code", "name": "Name", "lead": "Grid lead",
        "band": "band", "board": "notice board", "open": "its grids", "no_lead": "none", "under": "under",
        "within": "in band", "over": "over", "my_buildings": "Buildings (household diagrams)",
        "households_unit": "households", "back": "back to the whole sub-district",
    },
}

# the pages each function opens, in the order a home page lists them
WORK = [("people", "/field", "field"), ("maps", "/map/coverage", "map_coverage"), ("maps", "/map/cases", "map_cases"),
        ("edit", "/map/edit", "map_edit"), ("reports", "/reports/weekly/page", "weekly"),
        ("maps", "/layers", "layers"), ("audit", "/audit", "audit")]


def _figures(session: Session, scope: Scope):
    """Grids per level, buildings, households and people: the caller's area (signed out, the
    installation's totals: counts only)."""
    (grids_in, params), buildings_in = scope.codes("g.code"), scope.rows("b")[0]
    return session.execute(text(f"""
        SELECT (SELECT count(*) FROM subdistricts),
               (SELECT count(*) FROM grids g WHERE level = 1 AND retired_at IS NULL AND {grids_in}),
               (SELECT count(*) FROM grids g WHERE level = 2 AND retired_at IS NULL AND {grids_in}),
               (SELECT count(*) FROM grids g WHERE level = 3 AND retired_at IS NULL AND {grids_in}),
               (SELECT count(*) FROM buildings b WHERE {buildings_in}),
               (SELECT coalesce(sum(l.households), 0) FROM buildings b JOIN building_loads l ON l.building_id = b.id
                WHERE {buildings_in}),
               (SELECT coalesce(sum(l.people), 0) FROM buildings b JOIN building_loads l ON l.building_id = b.id
                WHERE {buildings_in})"""), params).one()


@router.get("/", response_class=HTMLResponse)
def landing(
    request: Request,
    lang: str = Query("zh", pattern="^(zh|en)$"),
    community: str | None = Query(None, pattern="^[0-9]{12}$", description="a community's grids (L1 code)"),
    clock: Clock = Depends(get_clock),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """The caller's start: signed out, the territory and the residents' pages; signed in, their
    area's figures, the pages their role opens, and their area's grids with load and lead."""
    token = token_of(request)
    me = principal_for_token(session, token, clock.now()) if token else None
    session.commit()  # last seen
    context = {"t": TEXT[lang], "lang": lang, "me": me, "bar": account_bar(me, lang), "bar_css": BAR_CSS,
               "figures": _figures(session, WHOLE if me is None else me.scope),
               "names": session.execute(text("SELECT name FROM subdistricts ORDER BY code LIMIT 3")).scalars().all()}
    if me is not None:
        subdistrict, mine = me.narrow(None, community)
        subdistrict = subdistrict or session.execute(text("SELECT min(code) FROM subdistricts")).scalar()
        context |= {"work": [(path, key) for need, path, key in WORK if me.can(need)], "parent": mine,
                    "grid_rows": grids.grid_table(session, parent=mine, subdistrict=subdistrict,
                                                  scope=me.scope) if me.can("maps") else [],
                    "wide": me.community is None and me.grids is None}
        if me.grids is not None and me.can("people"):
            context["buildings"] = {row["code"]: grids.buildings_of(session, row["code"], me.scope)
                                    for row in context["grid_rows"]}
    return templates.TemplateResponse(request, "index.html", context)


@router.post("/sign-out", include_in_schema=False)
def sign_out_page(request: Request, clock: Clock = Depends(get_clock),
                  session: Session = Depends(get_session)) -> RedirectResponse:
    """The pages' sign-out button: the session ends and the browser is sent to sign in again."""
    token = token_of(request)
    if token:
        auth.sign_out(session, token, clock.now())
        session.commit()
        request.app.state.recent_callers.forget(auth.digest(token))
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


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
