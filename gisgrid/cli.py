"""The ``gisgrid`` command line: the same service functions as the HTTP API.

Messages are Chinese first, English after a slash, as the users read them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gisgrid.auth.commands import accounts_app
from gisgrid.core.commandline import cluster, ensure_database, external_url, fail
from gisgrid.core.errors import GisgridError
from gisgrid.division.commands import divide_command
from gisgrid.grids.commands import grid_app
from gisgrid.imports.command import import_command
from gisgrid.imports.templates import template_command
from gisgrid.keys.commands import keys_app
from gisgrid.onboarding.commands import check_command, export_command
from gisgrid.onboarding.territory_commands import territory_app
from gisgrid.reports.commands import case_app, report_app

app = typer.Typer(help="gisgrid 网格化管理 GIS 服务 / grid-based community management", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / the database (embedded PostGIS or GISGRID_DATABASE_URL)", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("up")
def db_up() -> None:
    """启动数据库并迁移到最新 / start the database (initdb on first use) and migrate to head."""
    try:
        url = ensure_database()
    except GisgridError as exc:
        fail(exc)
    typer.echo(f"数据库就绪 / database ready: {_hide_password(url)}")


@db_app.command("down")
def db_down() -> None:
    """停止内置数据库 / stop the embedded cluster (a no-op when stopped or external)."""
    if external_url():
        typer.echo("使用外部数据库，无需停止 / external database in use: nothing to stop")
        return
    try:
        typer.echo(cluster().down())
    except GisgridError as exc:
        fail(exc)


@db_app.command("status")
def db_status() -> None:
    """数据库状态 / database status as JSON."""
    url = external_url()
    try:
        status = {"mode": "external", "url": _hide_password(url)} if url else cluster().status()
        if url or status["running"]:
            from gisgrid.core import migrate
            from gisgrid.core.database import get_engine

            status["migration"] = migrate.current_revision(get_engine())
            status["migration_head"] = migrate.head_revision()
    except GisgridError as exc:
        fail(exc)
    typer.echo(json.dumps(status, ensure_ascii=False, indent=2))


@db_app.command("url")
def db_url(app_role: bool = typer.Option(False, "--app", help="the HTTP app's URL (its own role)")) -> None:
    """打印数据库连接串 / print the SQLAlchemy URL of the database in use (the owner's)."""
    try:
        from gisgrid.core.database import app_database_url, database_url

        typer.echo(app_database_url() if app_role else database_url())
    except GisgridError as exc:
        fail(exc)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="listen address"),
    port: int = typer.Option(8000, help="listen port"),
    workers: int = typer.Option(1, min=1, help="worker processes (one per core is a good start)"),
    access_log: bool = typer.Option(True, help="log every request"),
) -> None:
    """启动服务 / serve the API and pages."""
    try:
        ensure_database()
    except GisgridError as exc:
        fail(exc)
    _serve(host, port, workers, access_log)


def _serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    import uvicorn

    typer.echo(f"服务地址 / serving on http://{host}:{port}/")
    uvicorn.run("gisgrid.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=access_log)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="listen address"),
    port: int = typer.Option(8000, help="listen port"),
    seed: int = typer.Option(20261126, help="generator seed: the same seed gives the same data"),
    communities: int = typer.Option(8, help="communities (L1 zones) per sub-district"),
    sub_districts: int = typer.Option(1, "--sub-districts", help="sub-districts (city scale: hundreds)"),
    no_residents: bool = typer.Option(False, "--no-residents", help="households only (city scale)"),
    no_cases: bool = typer.Option(False, "--no-cases", help="leave out the year of cases (city scale)"),
    load_only: bool = typer.Option(False, "--load-only", help="load the demo, do not serve"),
) -> None:
    """示范街道：启动数据库、迁移、载入示范数据并启动服务 / db up + migrate + demo data + serve."""
    from sqlalchemy import text

    from gisgrid.core.database import get_engine
    from gisgrid.demo.generator import DemoConfig, generate
    from gisgrid.demo.loader import load

    try:
        ensure_database()
        engine = get_engine()
        with engine.connect() as conn:
            loaded = conn.execute(text("SELECT count(*) FROM subdistricts")).scalar_one()
        if loaded:
            typer.echo(f"示范数据已存在，直接使用 / demo data already loaded ({loaded} sub-district(s))")
        else:
            config = DemoConfig(seed=seed, communities=communities, sub_districts=sub_districts,
                                residents=not no_residents, cases=not no_cases)
            typer.echo("生成示范街道 / generating the demo sub-district …")
            counts = load(engine, generate(config), progress=sys.stderr.isatty())
            for table, rows in counts.items():
                typer.echo(f"  {table:<22}{rows:>12,}")
    except GisgridError as exc:
        fail(exc)
    if not load_only:
        _serve(host, port)


@app.command()
def coverage(
    subdistrict: str | None = typer.Option(None, help="9-digit sub-district code"),
    community: str | None = typer.Option(None, help="L1 community-zone code"),
    level: int | None = typer.Option(None, min=1, max=3, help="only this level"),
    tolerance: float | None = typer.Option(None, help="sliver tolerance in m² (default: setting)"),
    geojson: Path | None = typer.Option(None, help="also write the defects as GeoJSON here"),
) -> None:
    """覆盖分析 / coverage analysis: blind spots, overlaps, spill-over, slivers, orphans, load."""
    from gisgrid.core.database import session_scope
    from gisgrid.coverage import service

    try:
        ensure_database(quiet=True)
        with session_scope() as session:
            report = service.analyse(
                session, service.Scope(subdistrict, community, level), tolerance
            )
    except GisgridError as exc:
        fail(exc)
    typer.echo(format_coverage(report))
    if geojson:
        geojson.write_text(json.dumps(service.defect_features(report), ensure_ascii=False))
        typer.echo(f"缺陷已写入 / defects written to {geojson}")


@app.command()
def lookup(
    lon: float = typer.Argument(..., help="longitude"),
    lat: float = typer.Argument(..., help="latitude"),
    crs: str = typer.Option("WGS84", help="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx"),
) -> None:
    """坐标查网格 / which grid holds a point at every level, with its lead."""
    from gisgrid.core.crs import to_wgs84
    from gisgrid.core.database import session_scope
    from gisgrid.grids import service

    try:
        x, y = to_wgs84(lon, lat, crs)
        ensure_database(quiet=True)
        with session_scope() as session:
            found = service.lookup(session, float(x), float(y))
    except GisgridError as exc:
        fail(exc)
    where = found["subdistrict"]
    typer.echo(f"{found['lon']:.7f}, {found['lat']:.7f}  "
               + (f"{where['name']} ({where['code']})" if where else "不在任何街道内 / outside every sub-district"))
    for grid in found["grids"]:
        lead = f"{grid['lead']} {grid['lead_phone']}" if grid["lead"] else "无网格长 / no lead"
        typer.echo(f"  L{grid['level']}  {grid['code']:<18} {grid['name']}  网格长 / lead: {lead}")
    if found["message"] != "ok":
        typer.echo(f"  {found['message']}")


def format_coverage(report) -> str:
    from gisgrid.coverage.service import LABELS_ZH

    summary = report.summary
    lines = [
        "覆盖分析 / coverage",
        f"  面积覆盖 / area covered       {summary['area_covered_pct']}%",
        f"  住户覆盖 / households covered {summary['households_covered_pct']}% of {summary['households']:,}",
        f"  网格 / grids                   {summary['grids']}",
        "",
        f"  {'缺陷 / defect':<28}{'数量':>6}",
    ]
    for kind, count in summary["defects"].items():
        lines.append(f"  {LABELS_ZH[kind] + ' / ' + kind:<28}{count:>6}")
    if report.defects:
        lines += ["", f"  {'类型 / type':<22}{'级':>3}  {'面积 m²':>10}  网格 / grids"]
        for d in report.defects:
            area = f"{d.area_m2:,.1f}" if d.area_m2 is not None else ""
            extra = d.detail.get("name") or ""
            if "households" in d.detail:
                extra = f"{d.detail['households']} 户 / households"
            lines.append(f"  {d.type:<22}{d.level or '':>3}  {area:>10}  {', '.join(d.grids)} {extra}".rstrip())
    if report.joined_nearest:
        lines += ["", "  就近划入的单位 / units joined to the nearest grid:"]
        lines += [f"    {u['name']} → {u['grid_code']} ({u['distance_m']} m)" for u in report.joined_nearest]
    return "\n".join(lines)


app.command("import")(import_command)
app.command("check")(check_command)
app.command("export")(export_command)
app.command("template")(template_command)
app.command("divide")(divide_command)
app.add_typer(grid_app, name="grid")
app.add_typer(report_app, name="report")
app.add_typer(case_app, name="case")
app.add_typer(keys_app, name="keys")
app.add_typer(territory_app, name="territory")
app.add_typer(accounts_app, name="accounts")

if __name__ == "__main__":
    app()
