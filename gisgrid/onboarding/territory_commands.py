"""``gisgrid territory …``: a sub-district's boundary from a file, the list and the history,
over :mod:`gisgrid.onboarding.territory`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from gisgrid.core.commandline import ensure_database, fail
from gisgrid.core.errors import GisgridError

territory_app = typer.Typer(help="街道辖区边界 / sub-district boundaries", no_args_is_help=True)


@territory_app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="GeoJSON, GeoPackage or Shapefile (.shp / .zip) of the boundary"),
    code: str = typer.Option(..., "--code", help="9 digits: GB/T 2260 county code + 3-digit serial"),
    name: str = typer.Option(..., "--name", help="the sub-district's name, e.g. 玉林街道"),
    crs: str | None = typer.Option(None, "--crs", help="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx "
                                   "(default: the file's own; GeoJSON: WGS84)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只预览，不保存 / report everything, keep nothing"),
    county: str | None = typer.Option(None, "--county", help="区县名称 / county name"),
    city: str | None = typer.Option(None, "--city", help="城市名称 / city name"),
    layer: str | None = typer.Option(None, "--layer", help="layer name in a GeoPackage"),
    reason: str | None = typer.Option(None, "--reason", help="why (kept in the history; default: 导入边界 FILE)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole report as JSON"),
) -> None:
    """导入街道边界：新建，或替换为新版本 / create a sub-district from a polygon file, or replace its boundary."""
    from gisgrid.core.database import session_factory
    from gisgrid.onboarding.territory import import_boundary

    try:
        ensure_database(quiet=True)
        with session_factory()() as session:
            report = import_boundary(session, path, code=code, name=name, actor=getpass.getuser(), crs=crs,
                                     layer=layer, county=county, city=city, reason=reason, dry_run=dry_run)
            session.commit()
    except GisgridError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(format_report(report))


ACTIONS = {"created": "新建 / created", "replaced": "已替换 / replaced", "unchanged": "未变 / unchanged"}


def format_report(report: dict) -> str:
    head = "试运行（未保存）/ dry run (nothing saved)" if report["dry_run"] else "已保存 / saved"
    version = f"v{report['version_before'] or '-'} → v{report['version_after']}"
    lines = [f"{report['code']} {report['name']} — {ACTIONS[report['action']]}, {version} — {head}",
             f"  {report['file']} ({report['format']}, {report['crs']}): {len(report['features'])} 要素 features, "
             f"{report['parts']} 部分 parts, {report['area_m2'] / 1e6:,.3f} km²"]
    impact = report["impact"]
    if impact:
        lines.append(f"  面积 / area: {impact['area_before_m2'] / 1e6:,.3f} → {impact['area_after_m2'] / 1e6:,.3f} km²")
        for grid in impact["grids_outside"]:
            how = "全部 / wholly" if grid["wholly"] else "部分 / partly"
            lines.append(f"  越界一级网格 / L1 zone outside ({how}): {grid['code']} {grid['name']} "
                         f"{grid['outside_m2']:,.1f} m² (before {grid['outside_before_m2']:,.1f} m²)")
        for key, label in (("buildings_outside", "楼栋 buildings"), ("units_outside", "单位 units"),
                           ("shops_outside", "商铺 shops")):
            found = impact[key]
            if found["count"]:
                names = ", ".join(e["name"] for e in found["examples"])
                lines.append(f"  边界外 / outside: {found['count']} {label} ({found['newly']} newly): {names}")
        if impact["households_outside"]:
            lines.append(f"  边界外住户 / households outside: {impact['households_outside']}")
        lines.append(f"  一级网格未覆盖 / not in any L1 zone: {impact['uncovered_m2']:,.1f} m² "
                     f"(newly {impact['newly_uncovered_m2']:,.1f} m²)")
    for warning in report["warnings"]:
        lines.append(f"  注意 / note: {warning}")
    return "\n".join(lines)


@territory_app.command("list")
def list_command() -> None:
    """街道列表 / every sub-district: version, area, grids, buildings, households, last change."""
    from gisgrid.core.database import session_scope
    from gisgrid.core.paging import Page
    from gisgrid.core.scope import WHOLE
    from gisgrid.onboarding.territory import subdistricts

    try:
        ensure_database(quiet=True)
        with session_scope() as session:
            items = subdistricts(session, scope=WHOLE, page=Page(limit=100_000, offset=0))["items"]
    except GisgridError as exc:
        fail(exc)
    if not items:
        typer.echo("尚无街道，请先 gisgrid territory import / no sub-district yet: gisgrid territory import FILE")
    for s in items:
        grids = "/".join(str(s["grids"].get(str(level), 0)) for level in (1, 2, 3))
        typer.echo(f"{s['code']}  {s['name']}  v{s['version']}  {s['area_km2']:,.3f} km²  网格 grids L1/L2/L3 {grids}  "
                   f"楼栋 buildings {s['buildings']}  住户 households {s['households']}  "
                   f"最后修改 last change: {s['changed_by']} {s['changed_at']:%Y-%m-%d %H:%M} {s['reason']}")


@territory_app.command("history")
def history_command(code: str = typer.Argument(..., help="sub-district code")) -> None:
    """街道边界沿革 / every version: who, when, why."""
    from gisgrid.core.database import session_scope
    from gisgrid.core.scope import WHOLE
    from gisgrid.onboarding.territory import history

    try:
        ensure_database(quiet=True)
        with session_scope() as session:
            versions = history(session, code, scope=WHOLE)
    except GisgridError as exc:
        fail(exc)
    for v in versions:
        until = f"{v['valid_to']:%Y-%m-%d %H:%M}" if v["valid_to"] else "now"
        typer.echo(f"v{v['version']:<3} {v['valid_from']:%Y-%m-%d %H:%M} → {until:<16} {v['operation']:<8} "
                   f"{v['changed_by']}: {v['reason']}  {v['name']}  {v['area_km2']:,.3f} km²")
