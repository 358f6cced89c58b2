from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.coverage import service

router = APIRouter(tags=["coverage"])


@router.get("/coverage", summary="覆盖分析 / Coverage analysis",
            responses=responses(404))
def coverage(
    subdistrict: str | None = Query(None, pattern=r"^[0-9]{9}$", description="9-digit sub-district code"),
    community: str | None = Query(None, pattern=r"^[0-9]{12}$", description="an L1 (community zone) code"),
    level: int | None = Query(None, ge=1, le=3, description="only defects of this level"),
    tolerance_m2: float | None = Query(None, ge=0, le=10000, description="sliver tolerance (m²)"),
    me: Principal = Depends(needs("maps")),
    session: Session = Depends(get_session),
) -> dict:
    """Blind spots, overlaps, spill-over, slivers, orphans, load and missing leads.

    `summary` has coverage % of area and households and the count of each defect type;
    `defects` is a GeoJSON FeatureCollection whose features carry `defect` (their type),
    `level`, the `grids` involved and `area_m2`.

    Within the caller's scope: their sub-district, a community manager's community, and for a
    grid worker their community's summary with only the defects touching their own grids.
    """
    subdistrict, community = me.narrow(subdistrict, community)
    scope = service.Scope(subdistrict=subdistrict, community=community, level=level)
    report = service.analyse(session, scope, tolerance_m2)
    if me.grids is not None:
        report = service.touching(report, me.sees_code)
    return service.report_json(report)
