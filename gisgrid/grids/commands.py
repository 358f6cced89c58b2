"""``gisgrid grid …``: boundary edits from the command line, over the same service functions
as the HTTP API.

Shapes are GeoJSON: a file path, ``-`` for standard input, or the JSON text itself. A change
needs ``--reason`` and the version(s) it starts from (``--version`` for the grid named first,
``--versions CODE=N`` for others; ``gisgrid grid show CODE`` prints them). ``--dry-run`` shows
the impact and keeps nothing. ``--json`` prints the whole report.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from gisgrid.core.commandline import command_change, ensure_database, fail
from gisgrid.core.errors import GisgridError, InvalidInput
from gisgrid.core.scope import WHOLE
from gisgrid.grids.edit_report import EditReport, ImportReport

grid_app = typer.Typer(help="网格边界编辑 / draw and adjust grid boundaries", no_args_is_help=True)

REASON = typer.Option(..., "--reason", help="修改原因（必填，记入沿革）/ why (kept in the history)")
MODE = typer.Option("strict", "--mode", help="strict: refuse what does not fit; fit: clip, fill slivers and say so")
CRS = typer.Option(None, "--crs", help="WGS84 (default), CGCS2000, GCJ-02, BD-09 or EPSG:xxxx")
DRY = typer.Option(False, "--dry-run", help="只预览影响，不保存 / preview the impact, keep nothing")
VERSION = typer.Option(None, "--version", help="the version of the grid you started from")
VERSIONS = typer.Option(None, "--versions", help="CODE=VERSION for other grids the change names")
ACTOR = typer.Option(None, "--actor", help="who makes the change (default: the login name)")
AS_JSON = typer.Option(False, "--json", help="print the whole report as JSON")


def _shape(value: str, what: str, *, collection: bool = False) -> dict:
    """GeoJSON from a file, stdin (``-``) or the text itself; one feature's geometry unless
    ``collection``."""
    if value == "-":
        text = sys.stdin.read()
    elif value.lstrip().startswith("{"):
        text = value
    else:
        path = Path(value)
        if not path.exists():
            raise InvalidInput(f"文件不存在 / no such file: {value}", where=what)
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} 不是 JSON / {what} is not JSON: {exc}", where=what) from None
    if collection:
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise InvalidInput(f"{what} 应为 FeatureCollection / {what} must be a FeatureCollection", where=what)
        return data
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise InvalidInput(f"{what} 应只含一个要素，实有 {len(features)} / {what} must hold exactly one "
                               f"feature, it has {len(features)}", where=what)
        data = features[0]
    return data


def _versions(first: str | None, version: int | None, others: list[str] | None) -> dict[str, int]:
    versions = {}
    for item in others or []:
        code, _, number = item.partition("=")
        if not re.fullmatch(r"[0-9]{1,9}", number):
            raise InvalidInput(f"--versions 应为 CODE=VERSION，收到 {item!r} / --versions takes CODE=VERSION, "
                               f"got {item!r}", where="--versions")
        versions[code.strip()] = int(number)
    if version is not None and first is not None:
        versions[first] = version
    return versions


def _run(call: Callable, *, reason: str, mode: str, dry_run: bool, actor: str | None, as_json: bool,
         code: str | None = None, version: int | None = None, versions: list[str] | None = None) -> None:
    """Run one change in its own transaction: commit it, or roll it back for a dry run. Input
    is parsed inside ``call`` too, so every refusal is the same one clear line."""
    from gisgrid.grids.editing import EditRequest

    try:
        request = EditRequest(actor=actor or getpass.getuser(), reason=reason, mode=mode,
                              versions=_versions(code, version, versions), dry_run=dry_run)
        with command_change(save=not dry_run) as session:
            report = call(session, request)
    except GisgridError as exc:
        fail(exc)
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))


def format_report(report: EditReport | ImportReport) -> str:
    head = "试运行（未保存）/ dry run (nothing saved)" if report["dry_run"] else "已保存 / saved"
    lines = [f"{report['operation']} — {head}", ""]
    if "summary" in report:
        summary = report["summary"]
        lines += [f"  {summary['file']}: {summary['features']} 要素 features — 新建 created {summary['created']}, "
                  f"改形 reshaped {summary['reshaped']}, 改名 renamed {summary['renamed']}, 撤销 retired "
                  f"{summary['retired']}, 未变 unchanged {summary['unchanged']}",
                  f"  图层 etag / layer etag: {report['etag']}  (--expect for the real import)", ""]
        if report["new_grids"]:
            lines.append("  新网格 / new grids (feature → code, name, parent):")
            lines += [f"    features[{g['feature']}] → {g['code']}{' (assigned)' if g['assigned'] else ''}  "
                      f"{g['name']}  ⊂ {g['parent']}" for g in report["new_grids"]]
            lines.append("")
    for grid in report["grids"]:
        was = f" (was {grid['previous_code']})" if grid["previous_code"] else ""
        version = f"v{grid['version_before'] or '-'} → v{grid['version_after'] or '?'}"
        area = f"{grid['area_m2_before'] or 0:,.0f} → {grid['area_m2_after'] or 0:,.0f} m²"
        lines.append(f"  {grid['code']}{was}  {grid['name']}  {', '.join(grid['actions'])}  {version}  {area}")
    for note in report["adjustments"]:
        lines.append(f"  调整 / adjusted: {note['grid']}: {note['message']}")
    impact = report["impact"]
    if impact:
        moves = impact["moves"]
        lines += ["", f"  换网格 / change grid: {len(moves['buildings'])} 栋楼 buildings, "
                      f"{impact['households_moved']} 户 households, {impact['people_moved']} 人 people, "
                      f"{len(moves['stationed_units'])} 单位 units, {len(moves['shops'])} 商铺 shops, "
                      f"{len(impact['open_cases'])} 在办事件 open cases"]
        lines.append("  负荷 / load (households: before → after, band):")
        for load in impact["loads"]:
            before = load["before"]["households"] if load["before"] else "-"
            after = f"{load['after']['households']} {load['after']['status']}" if load["after"] else "retired"
            lines.append(f"    {load['code']:<18} {before} → {after}  [{load['band'][0]}–{load['band'][1]}]")
        for kind, label in (("created", "新增 / created"), ("removed", "消除 / removed")):
            for defect in impact["defects"][kind]:
                lines.append(f"  {label}: {defect['label']} / {defect['type']} L{defect['level']} "
                             f"{defect['area_m2']:,.1f} m²")
    for warning in report["warnings"]:
        lines.append(f"  注意 / warning: {warning}")
    for member in report["released_team"]:
        lines.append(f"  人员待重新分配 / to reassign: {member['name']} ({member['role']}) from {member['grid']}")
    return "\n".join(lines)


@grid_app.command("show")
def show(code: str = typer.Argument(..., help="grid code")) -> None:
    """网格及其版本 / a grid as GeoJSON, with its current version."""
    from gisgrid.core.database import session_scope
    from gisgrid.grids import history

    try:
        ensure_database(quiet=True)
        with session_scope() as session:
            feature, _ = history.current(session, code)
    except GisgridError as exc:
        fail(exc)
    typer.echo(feature)


def _moment(value: str) -> str:
    """An ISO timestamp from PostgreSQL's JSON, to the second, with its offset."""
    if value == "now":
        return value
    return value[:19].replace("T", " ") + (value[-6:] if value[-6] in "+-" else "")


@grid_app.command("history")
def show_history(code: str = typer.Argument(..., help="grid code (current or former)")) -> None:
    """网格沿革 / every version: who, when, why, which operation."""
    from gisgrid.core.database import session_scope
    from gisgrid.core.paging import Page
    from gisgrid.grids import history

    try:
        ensure_database(quiet=True)
        with session_scope() as session:
            collection = json.loads(history.history(session, code, Page(limit=1000, offset=0)).body)
    except GisgridError as exc:
        fail(exc)
    for feature in collection["features"]:
        p = feature["properties"]
        until = p["valid_to"] or "now"
        typer.echo(f"v{p['version']:<3} {_moment(p['valid_from'])} → {_moment(until):<25}  {p['operation']:<9} "
                   f"{p['changed_by']}: {p['reason']}  {p['code']} {p['name']}"
                   + ("  [retired]" if p["retired"] else f"  {p['area_m2']:,.0f} m²"))


@grid_app.command("create")
def create(
    geometry: str = typer.Argument(..., help="GeoJSON polygon: file, '-' or text"),
    name: str = typer.Option(..., "--name"),
    parent: str | None = typer.Option(None, "--parent", help="parent grid code (omit for an L1 zone)"),
    subdistrict: str | None = typer.Option(None, "--subdistrict", help="sub-district code, for an L1 zone"),
    serial: int | None = typer.Option(None, "--serial", help="last three digits (default: next free)"),
    reason: str = REASON, mode: str = MODE, crs: str | None = CRS, dry_run: bool = DRY,
    actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """新建网格 / create a grid under a parent."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.create(s, r, geometry=_shape(geometry, "geometry"), crs=crs, parent=parent, subdistrict=subdistrict,
                                        name=name, serial=serial),
         reason=reason, mode=mode, dry_run=dry_run, actor=actor, as_json=as_json)


@grid_app.command("reshape")
def reshape(
    code: str = typer.Argument(...),
    geometry: str = typer.Argument(..., help="GeoJSON polygon: file, '-' or text"),
    name: str | None = typer.Option(None, "--name", help="also rename"),
    reason: str = REASON, mode: str = MODE, crs: str | None = CRS, dry_run: bool = DRY,
    version: int | None = VERSION, actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """修改网格形状 / give a grid a new shape."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.reshape(s, r, code, geometry=_shape(geometry, "geometry"), crs=crs, name=name),
         reason=reason, mode=mode, dry_run=dry_run, actor=actor, as_json=as_json, code=code, version=version)


@grid_app.command("transfer")
def transfer(
    code: str = typer.Argument(..., help="the grid that gives area"),
    to: str = typer.Argument(..., help="the neighbour that receives it"),
    area: str = typer.Argument(..., help="GeoJSON polygon around the part that moves"),
    reason: str = REASON, crs: str | None = CRS, dry_run: bool = DRY, version: int | None = VERSION,
    versions: list[str] | None = VERSIONS, actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """边界调整：把一块划给相邻网格 / give the part of a grid inside a polygon to a neighbour."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.transfer(s, r, code, to=to, area=_shape(area, "area"), crs=crs),
         reason=reason, mode="strict", dry_run=dry_run, actor=actor, as_json=as_json,
         code=code, version=version, versions=versions)


@grid_app.command("split")
def split(
    code: str = typer.Argument(...),
    line: str | None = typer.Option(None, "--line", help="GeoJSON LineString crossing the grid"),
    parts: str | None = typer.Option(None, "--parts", help="GeoJSON FeatureCollection of parts "
                                     "(properties: name, keep)"),
    names: list[str] | None = typer.Option(None, "--name", help="names of the new grids (line split)"),
    reason: str = REASON, mode: str = MODE, crs: str | None = CRS, dry_run: bool = DRY,
    version: int | None = VERSION, actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """拆分网格 / split a grid by a line or into parts."""
    from gisgrid.grids import operations

    def call(session, request):
        pieces = None
        if parts:
            collection = _shape(parts, "--parts", collection=True)
            pieces = [{"geometry": f.get("geometry"), "name": (f.get("properties") or {}).get("name"),
                       "keep": bool((f.get("properties") or {}).get("keep"))}
                      for f in collection.get("features", [])]
        cut = _shape(line, "--line") if line else None
        return operations.split(session, request, code, line=cut, parts=pieces, names=names, crs=crs)

    _run(call, reason=reason, mode=mode, dry_run=dry_run, actor=actor, as_json=as_json, code=code, version=version)


@grid_app.command("merge")
def merge(
    codes: list[str] = typer.Argument(..., help="adjacent grids of one parent"),
    into: str | None = typer.Option(None, "--into", help="the grid that stays (default: smallest code)"),
    name: str | None = typer.Option(None, "--name"),
    reason: str = REASON, dry_run: bool = DRY, versions: list[str] | None = VERSIONS,
    actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """合并网格 / merge adjacent grids into one."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.merge(s, r, codes, into=into, name=name),
         reason=reason, mode="strict", dry_run=dry_run, actor=actor, as_json=as_json, versions=versions)


@grid_app.command("retire")
def retire(
    code: str = typer.Argument(...),
    into: str | None = typer.Option(None, "--into", help="the neighbour that takes all of the area"),
    leave_uncovered: bool = typer.Option(False, "--leave-uncovered", help="allow a blind spot"),
    reason: str = REASON, dry_run: bool = DRY, version: int | None = VERSION,
    versions: list[str] | None = VERSIONS, actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """撤销网格 / retire a grid, its area going to its neighbours."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.retire(s, r, code, into=into, leave_uncovered=leave_uncovered),
         reason=reason, mode="strict", dry_run=dry_run, actor=actor, as_json=as_json,
         code=code, version=version, versions=versions)


@grid_app.command("restore")
def restore(
    code: str = typer.Argument(...),
    to_version: int = typer.Option(..., "--to-version", help="the old version to make current again"),
    reason: str = REASON, mode: str = MODE, dry_run: bool = DRY, version: int | None = VERSION,
    actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """恢复旧版本（作为新版本）/ make an old version current again, as a new version."""
    from gisgrid.grids import operations

    _run(lambda s, r: operations.restore(s, r, code, version=to_version),
         reason=reason, mode=mode, dry_run=dry_run, actor=actor, as_json=as_json, code=code, version=version)


@grid_app.command("import")
def import_layer(
    path: Path = typer.Argument(..., help="GeoJSON, GeoPackage or Shapefile with name (and code)"),
    layer: str | None = typer.Option(None, "--layer", help="layer name in a GeoPackage"),
    expect: str | None = typer.Option(None, "--expect", help="the layer etag the dry run printed"),
    level: int | None = typer.Option(None, "--level", min=1, max=3, help="the file's level: features may then "
                                     "lack codes, each parent is found by containment"),
    assign_codes: bool = typer.Option(False, "--assign-codes", help="number features without a code: "
                                      "north→south, west→east within the parent, after its highest serial"),
    column_map: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN: read name (or code) from COLUMN"),
    reason: str | None = typer.Option(None, "--reason", help="修改原因（记入沿革；首次导入默认“导入 FILE”）/ why "
                                      "(kept in the history; a first import defaults to '导入 FILE')"),
    mode: str = MODE, crs: str | None = CRS, dry_run: bool = DRY, actor: str | None = ACTOR, as_json: bool = AS_JSON,
) -> None:
    """导入网格图层（一次变更）/ import a whole layer of grids as one change."""
    from gisgrid.grids.layer_import import column_map as parse_map
    from gisgrid.grids.layer_import import default_reason
    from gisgrid.grids.layer_import import import_layer as run_import

    def call(session, request):
        return run_import(session, request, path, crs=crs, layer=layer, expected_etag=expect, level=level,
                          assign_codes=assign_codes, columns=parse_map(column_map), reason_given=reason is not None)

    _run(call, reason=reason or default_reason(path), mode=mode, dry_run=dry_run, actor=actor, as_json=as_json)


@grid_app.command("layer")
def layer_as_of(
    as_of: str = typer.Option(..., "--as-of", help="ISO 8601 moment with time zone, e.g. 2026-05-01T00:00+08:00"),
    level: int | None = typer.Option(None, "--level", min=1, max=3),
    parent: str | None = typer.Option(None, "--parent"),
    output: Path | None = typer.Option(None, "--output", help="write the GeoJSON here (default: print)"),
) -> None:
    """某一时刻的网格图层 / the grids as they stood at a moment, as GeoJSON."""
    from datetime import datetime

    from gisgrid.core.database import session_scope
    from gisgrid.core.paging import Page
    from gisgrid.core.settings import get_settings
    from gisgrid.grids import history

    try:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            raise InvalidInput(f"--as-of 不是 ISO 8601 时间 / --as-of is not an ISO 8601 moment: {as_of!r}",
                               where="--as-of") from None
        ensure_database(quiet=True)
        with session_scope() as session:
            body = history.layer_as_of(session, moment, level=level, parent=parent, bbox=None,
                                       page=Page(limit=get_settings().max_page_size, offset=0), scope=WHOLE).body
    except GisgridError as exc:
        fail(exc)
    if output:
        output.write_bytes(body)
        typer.echo(f"已写入 / written to {output}")
    else:
        typer.echo(body.decode())
