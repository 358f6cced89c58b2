"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, caller, get_actor, needs
from gisgrid.cases.routes import scoped_case
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import Actor, get_session
from gisgrid.core.errors import responses
from gisgrid.core.settings import get_settings
from gisgrid.desk import case, texts
from gisgrid.desk.page import LANG, render
from gisgrid.pagekit import basemap

router = APIRouter(prefix="/desk", tags=["desk pages"])


# --- the case page ------------------------------------------------------------------------------

@router.get("/cases/{case_no}", response_class=HTMLResponse, dependencies=[Depends(needs("cases"))],
            summary="事件办理页 / A case, its timeline and the steps I may take", responses=responses(404))
def case_page(request: Request, case_no: str = Depends(scoped_case), lang: str = LANG,
              me: Principal = Depends(caller), actor: Actor = Depends(get_actor), clock: Clock = Depends(get_clock),
              session: Session = Depends(get_session)) -> HTMLResponse:
    """The place on a small map, what was reported, the attachments, every step so far, who holds
    it and until when, and a button for each step the workflow accepts from the caller now; the
    page's script sends them to the cases' API with the case's version (``If-Match``)."""
    statuses = case.status_names(lang)
    view = case.case_page(session, case_no, scope=me.scope, actor=actor, now=clock.now())
    tiles = basemap.tile_url()
    place = view["case"]["location"]
    frame = {**view["map"], "point": [place["lat"], place["lon"]], "grid": view["case"]["grids"]["l2"],
             "tiles": tiles, "blank": basemap.BLANK,
             "attribution": get_settings().basemap_attribution if tiles != basemap.BLANK else "gisgrid"}
    return render(request, "case.html", me, lang, clock, script_words=texts.CASE_SCRIPT_WORDS,
                  config={"case_no": case_no, "etag": view["etag"], "steps": view["steps"], "map": frame,
                          "basemap_crs": get_settings().basemap_crs, "statuses": statuses,
                          "timezone": get_settings().timezone},
                  c=view["case"], steps=view["steps"], names=view["names"], statuses=statuses)
