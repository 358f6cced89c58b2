"""The grid worker's pages (/field): my grids → a grid's buildings (list and map) → a building's
household diagram → a household and its residents, each with its forms, and a grid's changes of
the week. The pages read through the ledger's and the registry's scoped services; every form
writes through the ledger's HTTP API (or ``POST /visits``) from the page's script, with the
record's version and an Idempotency-Key, so the pages check and refuse exactly as the API does.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.cases.calendar import work_calendar
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.core.settings import get_settings
from gisgrid.field import service, texts
from gisgrid.pagekit import basemap, frame

STATIC = Path(__file__).parent / "static"
templates = frame.templates(Path(__file__).parent / "templates")
templates.env.filters["zip"] = zip
router = APIRouter(prefix="/field", tags=["field pages"])
LANG = Query("zh", pattern="^(zh|en)$", description="zh 中文 or en English")
PEOPLE = Depends(needs("people"))
# the words the page's script shows itself (the API's messages arrive bilingual)
SCRIPT_WORDS = ("saving", "saved", "nothing_changed", "stale", "retry", "required", "bad_id", "bad_phone",
                "reason_short", "ended_on")


def _page(request: Request, name: str, me: Principal, lang: str, clock: Clock, **context) -> HTMLResponse:
    t = texts.TEXT[lang]
    today = clock.now().astimezone(work_calendar().zone).date()
    config = {"lang": lang, "words": {k: t[k] for k in SCRIPT_WORDS}, "staff_id": me.staff_id,
              "basemap_crs": get_settings().basemap_crs, **context.pop("config", {})}
    return templates.TemplateResponse(request, name, {
        "t": t, "lang": lang, "me": me, "zone": work_calendar().zone, "bar": account_bar(me, lang) + BAR_CSS, "today": today.isoformat(),
        "choices": texts.choices(lang), "end_reasons": texts.end_reasons(lang), "kinds": texts.kind_labels(lang),
        "config": json.dumps(config, ensure_ascii=False, default=str), "query": request.url.query, **context})


@router.get("", response_class=HTMLResponse, summary="我的网格 / My grids")
def my_grids(request: Request, lang: str = LANG, me: Principal = PEOPLE, clock: Clock = Depends(get_clock),
             session: Session = Depends(get_session)) -> HTMLResponse:
    """A grid worker's own grids, a community manager's zone's, an administrator's sub-district's."""
    return _page(request, "grids.html", me, lang, clock, grids=service.my_grids(session, me.scope))


@router.get("/grids/{code}", response_class=HTMLResponse, summary="网格的楼栋（列表与地图）/ A grid's buildings",
            responses=responses(404))
def grid_page(request: Request, code: str, lang: str = LANG, me: Principal = PEOPLE,
              clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> HTMLResponse:
    """The buildings as a list and on a map framed on the grid, and the form to register one."""
    grid = service.grid_in(session, code, me.scope)
    buildings = service.grid_buildings(session, code, me.scope)
    points = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [b["lon"], b["lat"]]},
         "properties": {"id": b["id"], "name": b["name"], "households": b["households"]}} for b in buildings]}
    tiles = basemap.tile_url()
    frame = {"bounds": [[grid["s"], grid["w"]], [grid["n"], grid["e"]]], "outline": grid["shape"],
             "buildings": points, "tiles": tiles, "blank": basemap.BLANK,
             "attribution": get_settings().basemap_attribution if tiles != basemap.BLANK else "gisgrid"}
    return _page(request, "grid.html", me, lang, clock, grid=grid, buildings=buildings, config={"map": frame})


@router.get("/grids/{code}/changes", response_class=HTMLResponse, summary="本周台帐变更 / A grid's changes of the week",
            responses=responses(404))
def grid_changes(request: Request, code: str, week: str | None = Query(None, description="ISO week YYYY-Www"),
                 lang: str = LANG, me: Principal = PEOPLE, clock: Clock = Depends(get_clock),
                 session: Session = Depends(get_session)) -> HTMLResponse:
    """What ``GET /ledger/changes`` answers, as a list: who changed which record, when, why, what."""
    grid = service.grid_in(session, code, me.scope)
    week_view = service.week_changes(session, code, week, clock.now(), me.scope)
    return _page(request, "changes.html", me, lang, clock, grid=grid, w=week_view)


@router.get("/buildings/{building_id}", response_class=HTMLResponse, summary="楼栋与住户状况图 / A building",
            responses=responses(404))
def building_page(request: Request, building_id: int = PathParam(..., ge=1, le=2_147_483_647), lang: str = LANG, me: Principal = PEOPLE,
                  clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> HTMLResponse:
    """The household diagram (each flat opens its household; a vacant one fills the new-household
    form), and the forms to register a household, change and end the building."""
    view = service.building_view(session, building_id, me.scope)
    return _page(request, "building.html", me, lang, clock, b=view["record"], grid=view["grid"], d=view["diagram"])


@router.get("/households/{household_id}", response_class=HTMLResponse, summary="住户与居民 / A household",
            responses=responses(404))
def household_page(request: Request, household_id: int = PathParam(..., ge=1, le=2_147_483_647), lang: str = LANG, me: Principal = PEOPLE,
                   clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> HTMLResponse:
    """The household and its residents (masked as the API masks them), with the forms to change,
    move and end each, register a resident or a key-group membership, and log a visit."""
    view = service.household_view(session, household_id, me.scope)
    return _page(request, "household.html", me, lang, clock, h=view["household"], residents=view["residents"],
                 visits=view["visits"], building=view["building"],
                 neighbours=view["neighbours"], team=service.visit_team(session, household_id, me.scope),
                 targets=service.move_targets(session, me.scope), groups=service.key_groups(session))
