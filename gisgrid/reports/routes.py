"""HTTP for the reports: the weekly summary (JSON, Excel, PDF, a printable page) and the
assessment (JSON, CSV, Excel), each of the caller's scope or a part of it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.core.clock import Clock, Day, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import responses
from gisgrid.core.tables import CSV, XLSX, download
from gisgrid.reports import exports
from gisgrid.reports.assessment import assessment
from gisgrid.reports.weekly import new_cases_now, weekly

router = APIRouter(tags=["reports"])

SCOPE = Query(None, description="a sub-district code (9 digits) or a grid code (12/15/18) within the caller's scope; "
                                "empty: the caller's own scope (the whole city for a city-wide account)",
              max_length=18)
WEEK = Query(None, description="ISO week, e.g. 2026-W47; default: the last full week", max_length=8)


@router.get("/reports/weekly", summary="周报 / Weekly summary", responses={
    200: {"content": {"application/json": {}, XLSX: {}, "application/pdf": {}}}, **responses(404)})
async def weekly_report(scope: str | None = SCOPE, week: str | None = WEEK,
                        format: Literal["json", "xlsx", "pdf"] = Query("json"),
                        me: Principal = Depends(needs("reports")),
                        clock: Clock = Depends(get_clock), session: Session = Depends(get_session)):
    """New, closed, open, overdue and escalated cases by category and by the units one level
    down, hot spots against the previous four weeks, and the information-collection work."""
    report = await run_in_threadpool(weekly, session, scope, week, clock.now(), me)
    name = f"weekly-{report['scope']['code'] or 'city'}-{report['week']}"
    if format == "xlsx":
        return download(exports.weekly_xlsx(report), XLSX, f"{name}.xlsx")
    if format == "pdf":
        pdf = await run_in_threadpool(exports.html_to_pdf, exports.weekly_html(report))
        return download(pdf, "application/pdf", f"{name}.pdf")
    return report


@router.get("/reports/weekly/page", response_class=HTMLResponse, summary="周报（打印）/ Printable weekly summary",
            responses=responses(404))
def weekly_page(scope: str | None = SCOPE, week: str | None = WEEK,
                lang: str = Query("zh", pattern="^(zh|en)$", description="zh 中文 or en English"),
                me: Principal = Depends(needs("reports")),
                clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> str:
    """The summary on screen: each figure of the week's new cases links to the desk's list of
    them, and where those cases stand now is shown beside the week's figures."""
    now = clock.now()
    report = weekly(session, scope, week, now, me, latest_with_cases=True)
    return exports.weekly_html(report, lang, bar=account_bar(me, lang) + BAR_CSS,
                               standing=new_cases_now(session, report["scope"]["code"], report["week"], now, me))


@router.get("/reports/assessment", summary="考核 / Assessment ranking", responses={
    200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}, **responses(404)})
def assessment_report(since: Annotated[Day, Query(alias="from", description="first day (YYYY-MM-DD)")],
                      until: Annotated[Day, Query(alias="to", description="last day (YYYY-MM-DD)")],
                      by: Literal["grid", "worker"] = Query("grid"),
                      subdistrict: str | None = Query(None, pattern="^[0-9]{9}$"),
                      format: Literal["json", "csv", "xlsx"] = Query("json"),
                      me: Principal = Depends(needs("reports")), session: Session = Depends(get_session)):
    """工作实绩, 业务技能 and 群众满意度 per L2 grid or per worker, weighted by the settings, ranked;
    the caller's grids and the workers assigned to them only."""
    report = assessment(session, since=since, until=until, by=by, subdistrict=subdistrict, scope=me.scope)
    name = f"assessment-{by}-{since}-{until}"
    if format == "csv":
        return download(exports.assessment_csv(report), CSV, f"{name}.csv")
    if format == "xlsx":
        return download(exports.assessment_xlsx(report), XLSX, f"{name}.xlsx")
    return report
