"""``gisgrid report …`` and ``gisgrid case …``: the weekly summary, the assessment and the
overdue sweep from the command line, over the same service functions as the HTTP API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from gisgrid.core.commandline import command_session, fail
from gisgrid.core.errors import GisgridError
from gisgrid.core.scope import WHOLE

report_app = typer.Typer(help="报表 / weekly summary and assessment", no_args_is_help=True)
case_app = typer.Typer(help="事件 / cases: overdue list and escalation sweep", no_args_is_help=True)

OUT = typer.Option(None, "--out", help="write the file here (default: standard output for text and JSON)")


def _write(content: bytes | str, out: Path | None, default_name: str) -> None:
    if isinstance(content, str) and out is None:
        typer.echo(content)
        return
    path = out or Path(default_name)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    typer.echo(f"已写入 / written: {path}", err=True)


@report_app.command("weekly")
def weekly_command(
    scope: str = typer.Option(None, "--scope", help="sub-district or grid code; default: the whole city"),
    week: str = typer.Option(None, "--week", help="ISO week such as 2026-W47; default: the last full week"),
    format: str = typer.Option("text", "--format", help="text, json, xlsx or pdf"),
    out: Path = OUT,
) -> None:
    """周报 / the weekly summary: new, closed, open, overdue, escalated; hot spots; visits."""
    from gisgrid.reports import exports
    from gisgrid.reports.weekly import FIGURES, LABELS, weekly

    if format not in ("text", "json", "xlsx", "pdf"):
        fail(GisgridError("--format 应为 text、json、xlsx 或 pdf / --format is text, json, xlsx or pdf"))
    try:
        with command_session() as session:
            report = weekly(session, scope, week, datetime.now(UTC), None)  # the operator: the whole city
        name = f"weekly-{report['scope']['code'] or 'city'}-{report['week']}"
        if format == "json":
            _write(json.dumps(report, ensure_ascii=False, indent=2), out, f"{name}.json")
        elif format == "xlsx":
            _write(exports.weekly_xlsx(report), out, f"{name}.xlsx")
        elif format == "pdf":
            _write(exports.html_to_pdf(exports.weekly_html(report)), out, f"{name}.pdf")
        else:
            s = report["scope"]
            lines = [f"{s['label']} {s['name']} {s['code'] or ''}  {report['week']}",
                     f"{'类别':<12}" + "".join(f"{LABELS[f]:>8}" for f in FIGURES)]
            for row in report["by_category"] + [{"name_zh": "合计", **report["total"]}]:
                lines.append(f"{row['name_zh']:<12}" + "".join(f"{row[f]:>10}" for f in FIGURES))
            c = report["collection"]
            lines.append(f"热点 / hot spots: {len(report['hotspots'])}；走访 {c['visits']}，核查 {c['info_checks']}，"
                         f"网格员上报 {c['worker_reports']}")
            _write("\n".join(lines), out, f"{name}.txt")
    except GisgridError as exc:
        fail(exc)


@report_app.command("assessment")
def assessment_command(
    since: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="first day"),
    until: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="last day"),
    by: str = typer.Option("grid", "--by", help="grid or worker"),
    subdistrict: str = typer.Option(None, "--subdistrict", help="limit to one sub-district"),
    format: str = typer.Option("text", "--format", help="text, json, csv or xlsx"),
    out: Path = OUT,
) -> None:
    """考核 / the assessment ranking: 工作实绩, 业务技能, 群众满意度 per grid or worker."""
    from gisgrid.reports import exports
    from gisgrid.reports.assessment import assessment

    if format not in ("text", "json", "csv", "xlsx"):
        fail(GisgridError("--format 应为 text、json、csv 或 xlsx / --format is text, json, csv or xlsx"))
    try:
        with command_session() as session:
            report = assessment(session, since=since.date(), until=until.date(), by=by, scope=WHOLE,
                                subdistrict=subdistrict)
        name = f"assessment-{by}-{since.date()}-{until.date()}"
        if format == "json":
            _write(json.dumps(report, ensure_ascii=False, indent=2), out, f"{name}.json")
        elif format == "csv":
            _write(exports.assessment_csv(report), out, f"{name}.csv")
        elif format == "xlsx":
            _write(exports.assessment_xlsx(report), out, f"{name}.xlsx")
        else:
            lines = ["排名  综合  实绩  技能  满意  处置件数  名称"]
            for item in report["items"]:
                lines.append("  ".join(f"{'—' if item[k] is None else item[k]:>5}"
                                       for k in ("rank", "total", "performance", "skills", "satisfaction_score",
                                                 "cases_handled")) + f"  {item.get('grid') or ''} {item['name']}")
            _write("\n".join(lines), out, f"{name}.txt")
    except GisgridError as exc:
        fail(exc)


@case_app.command("overdue")
def overdue_command(subdistrict: str = typer.Option(None, "--subdistrict"),
                    limit: int = typer.Option(50, "--limit", min=1, max=5000)) -> None:
    """超期事件 / open cases past their stage's deadline, longest overdue first."""
    from gisgrid.cases.service import CaseFilter, list_cases
    from gisgrid.core.paging import Page

    now = datetime.now(UTC)
    try:
        with command_session() as session:
            page = list_cases(session, CaseFilter(subdistrict=subdistrict, overdue_at=now, scope=WHOLE), Page(limit, 0), now)
    except GisgridError as exc:
        fail(exc)
    typer.echo(f"超期 / overdue: {page['numberMatched']}")
    for c in page["items"]:
        typer.echo(f"{c['case_no']}  {c['status']:<12} 时限 {c['due_at']:%Y-%m-%d %H:%M}  层级 {c['handling_level']}  "
                   f"{c['assignee'] or '—'}  {c['title']}")


@case_app.command("escalate-overdue")
def escalate_overdue_command() -> None:
    """超期上报 / escalate every case past its handling deadline now (the service also sweeps)."""
    from gisgrid.cases.workflow import escalate_overdue

    with command_session() as session:
        escalated = escalate_overdue(session, datetime.now(UTC))
        session.commit()
    typer.echo(f"已上报 / escalated: {len(escalated)}" + (f" ({', '.join(escalated[:20])})" if escalated else ""))



