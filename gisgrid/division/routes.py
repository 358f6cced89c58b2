"""``POST /divide``: a proposed division with the impact its adoption would have (a dry run by
default), or its adoption as one grid-layer import."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Header, UploadFile
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.division import service

router = APIRouter(tags=["division"])


@router.post("/divide", summary="自动划分网格 / Propose (or adopt) a division into grids of a band of households",
             responses=responses(404, 409, 428))
def divide(
    subdistrict: str = Form(..., min_length=9, max_length=9, description="sub-district code"),
    community: str | None = Form(None, max_length=15, description="only this L1 zone (level 3: this L2 grid)"),
    level: Literal[2, 3] = Form(2, description="2: grids in their L1 zone; 3: micro-grids in their grid"),
    band: str | None = Form(None, max_length=20, description="LOW-HIGH households (default: the load band settings)"),
    mode: Literal["redesign", "rebalance"] = Form("redesign"),
    oversize: Literal["own-grid", "by-entrance"] = Form("own-grid", description="a building over the ceiling: "
                                                        "own-grid (一楼一格, reported) or by-entrance (split into runs "
                                                        "of its 单元 in the ledger when adopted)"),
    seed: int = Form(18, ge=0, le=2**31 - 1, description="same seed and data, same proposal"),
    streets: UploadFile | None = File(None, description="street / river / rail lines (GeoJSON, GeoPackage, zipped "
                                      "Shapefile); a rank column marks hard barriers"),
    streets_crs: str | None = Form(None, max_length=30),
    adopt: bool = Form(False, description="adopt the proposal (a grid-layer import); default: dry run"),
    reason: str | None = Form(None, max_length=500, description="why (kept in the history); needed to adopt"),
    if_match: str | None = Header(None, alias="If-Match", description="the layer ETag the dry run returned"),
    me: Principal = Depends(needs("edit")),
    clock: Clock = Depends(get_clock),
    session: Session = Depends(get_session),
) -> dict:
    """The proposal (GeoJSON with ``summary`` and ``problems``), the impact report of importing it
    (buildings, households and open cases that change grid, loads before / after) and the layer
    ETag. With ``adopt=true`` (and ``If-Match`` once the parents have grids) it is imported:
    versioned, audited and undoable like any grid import. With ``oversize=by-entrance`` a building
    over the ceiling is split by 单元: the proposal names each part's entrances and grid, and
    adopting writes the parts, the households' moves and the building's end in the same
    transaction as the import."""
    with tempfile.TemporaryDirectory() as folder:
        path = None
        if streets is not None:
            path = Path(folder) / ("streets" + Path(streets.filename or "streets.geojson").suffix.lower())
            path.write_bytes(streets.file.read())
        request = service.DivideRequest(subdistrict=subdistrict, community=community, level=level,
                                        band=service.parse_band(band) if band else None, streets=path,
                                        streets_crs=streets_crs, mode=mode, seed=seed,
                                        oversize=oversize)
        answer = service.divide_and_adopt(session, request, me.scope, actor=me.username, reason=reason,
                                          adopt_with=if_match, adopt_now=adopt,
                                          today=clock.now().date())
    if adopt:
        session.commit()
    else:
        session.rollback()
    return answer
