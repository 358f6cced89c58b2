"""``gisgrid import buildings|units|shops|households|residents|staff FILE``: the CLI face of the import service.

Kept light at import time (typer only): ``gisgrid.cli`` registers :func:`import_command`.
Exit status: 0 every row loaded; 1 some rows refused (the accepted ones loaded, unless
``--strict`` or ``--dry-run``); 2 the file or the options are unusable and nothing was written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from gisgrid.imports.fields import Kind

NOTHING_WRITTEN = "未写入任何数据 / nothing was written"


def import_command(
    kind: Kind = typer.Argument(..., help="buildings 楼栋 | units 驻区单位 | shops 商铺 | households 住户 | "
                                "residents 居民 | staff 工作人员"),
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), CSV or Excel (.xlsx)"),
    crs: str | None = typer.Option(
        None, help="坐标系 / CRS of the coordinates: WGS84, CGCS2000, GCJ-02 (AMap/Tencent), BD-09 (Baidu) "
        "or EPSG:xxxx; required for CSV/Excel, otherwise the file's own"),
    subdistrict: str | None = typer.Option(None, help="只接受该街道内的行 / rows must lie in this sub-district (9-digit code)"),
    map_: list[str] = typer.Option([], "--map", help="字段=列名 / FIELD=COLUMN, repeatable: --map floors=层数"),
    mapping: Path | None = typer.Option(None, help="映射文件 / JSON or YAML file {field: column}"),
    lon: str | None = typer.Option(None, help="经度列 / longitude (x) column of a CSV/Excel"),
    lat: str | None = typer.Option(None, help="纬度列 / latitude (y) column of a CSV/Excel"),
    layer: str | None = typer.Option(None, help="图层 / layer of a GeoPackage"),
    sheet: str | None = typer.Option(None, help="工作表 / Excel sheet (default: the first)"),
    encoding: str | None = typer.Option(None, help="文本编码 / text encoding (default: UTF-8, then GB18030)"),
    strict: bool = typer.Option(False, "--strict", help="有行被拒绝则全部不写入 / any refused row: write nothing"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只检查不写入 / check everything, write nothing"),
    update: bool = typer.Option(False, "--update", help="按自然键更新已有记录，只改不同之处 / change existing records "
                                "matched by their natural key, only what differs"),
    report: Path | None = typer.Option(None, help="报告文件 / write the report: .json (all) or .csv (refused rows)"),
) -> None:
    """导入楼栋、单位、商铺、住户、居民或工作人员 / import buildings, units, shops, households, residents or staff."""
    from gisgrid.core.commandline import fail
    from gisgrid.core.errors import GisgridError

    try:
        code = _run(kind, file, crs, subdistrict, map_, mapping, lon, lat, layer, sheet, encoding,
                    strict, dry_run, update, report)
    except GisgridError as exc:
        fail(exc, NOTHING_WRITTEN)
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:  # never a traceback to the user; the import was rolled back
        from sqlalchemy.exc import OperationalError

        what = "无法连接数据库 / cannot reach the database" if isinstance(exc, OperationalError) \
            else "内部错误 / internal error"
        typer.secho(f"错误 / error: {what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    fg=typer.colors.RED, err=True)
        typer.echo(NOTHING_WRITTEN, err=True)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=code)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER in a container
        return "unknown"


def _run(kind, file, crs, subdistrict, map_, mapping, lon, lat, layer, sheet, encoding,
         strict, dry_run, update, report_path) -> int:
    from gisgrid.core.commandline import ensure_database
    from gisgrid.core.database import session_scope
    from gisgrid.core.errors import InvalidInput
    from gisgrid.imports.report import format_report, write_report
    from gisgrid.imports.service import ImportOptions, import_file, load_mapping, parse_map_flags

    if not file.is_file():
        raise InvalidInput(f"文件不存在 / no such file: {file}", where="file")
    columns: dict[str, str] = load_mapping(mapping) if mapping else {}
    columns.update(parse_map_flags(map_))
    if lon:
        columns["lon"] = lon
    if lat:
        columns["lat"] = lat
    if report_path is not None and report_path.suffix.lower() not in (".json", ".csv"):
        raise InvalidInput(f"报告文件需为 .json 或 .csv / --report must end in .json or .csv: {report_path.name}")
    options = ImportOptions(crs=crs, subdistrict=subdistrict, mapping=columns, layer=layer, sheet=sheet,
                            encoding=encoding, strict=strict, dry_run=dry_run, update=update,
                            actor=f"命令行 / command line: {_os_user()}", progress=sys.stderr.isatty())
    ensure_database(quiet=True)
    if options.progress:
        typer.echo(f"读取 / reading {file} …", err=True)
    with session_scope() as session:
        result = import_file(session, kind, file, options)
    typer.echo(format_report(result))
    if report_path is not None:
        write_report(result, report_path)
        typer.echo(f"报告已写入 / report written to {report_path}")
    return 0 if result.ok else 1
