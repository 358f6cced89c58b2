"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.cases.service import categories
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.settings import get_settings
from gisgrid.desk import page, report
from gisgrid.pagekit import basemap

router = APIRouter(prefix="/desk", tags=["desk pages"])


# --- the field report form ----------------------------------------------------------------------

REPORT_WORDS = ("category", "subtype", "place", "locating", "locate", "no_place", "from_device", "from_pin",
                "no_geolocation", "remove", "photo_sent", "photo_failed", "too_many", "send", "sending_photo",
                "kept", "case_made", "bad_image")
PHOTO = {"longest": 1600, "quality": 0.8, "most": 9}  # resized on the phone before upload; a step files 20 at most


@router.get("/report", response_class=HTMLResponse, summary="上报事件 / Report a case from the field")
def report_page(request: Request, lang: str = page.LANG,
                grid: str | None = Query(None, max_length=18, description="frame the map on this grid of mine"),
                me: Principal = Depends(needs("cases")), clock: Clock = Depends(get_clock),
                session: Session = Depends(get_session)) -> HTMLResponse:
    """Phone first: category and sub-type, title and description, the place from the device
    (WGS84) or a pin on a map framed on the caller's own grids, photos from the camera resized
    on the phone; sent to ``POST /cases`` and ``POST /cases/{no}/attachments`` with a key each."""
    tiles = basemap.tile_url()
    settings = get_settings()
    frame = {**report.frame(session, me), "focus": grid, "tiles": tiles, "blank": basemap.BLANK,
             "attribution": settings.basemap_attribution if tiles != basemap.BLANK else "gisgrid"}
    kinds = categories(session)
    config = {"map": frame, "basemap_crs": settings.basemap_crs, "photo": PHOTO,
              "reporter": {"name": report.reporter_name(session, me), "staff_id": me.staff_id},
              "subtypes": {c["code"]: [[s["code"], s["name_zh"] if lang == "zh" else s["name_en"]]
                                       for s in c["subtypes"]] for c in kinds}}
    return page.render(request, "report.html", me, lang, clock, script_words=REPORT_WORDS, config=config,
                       categories=kinds, photo=PHOTO)
