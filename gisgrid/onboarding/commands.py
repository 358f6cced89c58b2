"""``gisgrid check`` and ``gisgrid export``: the readiness check and the export that imports back,
over the same service functions as ``GET /check`` and ``GET /export``, for the whole installation."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from gisgrid.core.commandline import command_session, fail
from gisgrid.core.errors import GisgridError, InvalidInput
from gisgrid.core.scope import WHOLE


def check_command(
    subdistrict: str | None = typer.Option(None, "--subdistrict", help="9-digit code; default: every sub-district"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """就绪检查 / what is still missing before the sub-district can work. Exit 0 nothing, 1 something."""
    from gisgrid.onboarding.check import format_readiness, readiness

    try:
        with command_session() as session:
            result = readiness(session, subdistrict, WHOLE)
    except GisgridError as exc:
        fail(exc)
    typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2) if as_json else format_readiness(result))
    raise typer.Exit(code=0 if result.ready else 1)


def export_command(
    file: Path = typer.Argument(..., help="FILE.gpkg (GeoPackage) or FILE.xlsx (Excel, with the residents)"),
    subdistrict: str | None = typer.Option(None, "--subdistrict", help="9-digit code; default: the only one"),
    with_personal_data: bool = typer.Option(False, "--with-personal-data",
                                            help="居民身份证号与电话不脱敏（记入审计日志）/ residents' ID numbers and "
                                            "phones in full (written to the audit log)"),
) -> None:
    """导出街道全部数据，可再导入 / everything of a sub-district, in a form the imports read back."""
    from gisgrid.onboarding.export import export

    try:
        format = file.suffix.lower().lstrip(".")
        if format not in ("gpkg", "xlsx"):
            raise InvalidInput(f"文件须以 .gpkg 或 .xlsx 结尾 / the file must end in .gpkg or .xlsx: {file.name}",
                               where="file")
        with command_session() as session:
            exported = export(session, subdistrict, WHOLE, format=format, with_personal_data=with_personal_data,
                              actor=f"cli:{getpass.getuser()}")
            file.write_bytes(exported.content)
            session.commit()  # the audit row of opened personal data, once the file is written
    except GisgridError as exc:
        fail(exc)
    except OSError as exc:
        fail(InvalidInput(f"无法写入 / cannot write {file}: {exc.strerror}", where="file"))
    for layer, rows in exported.counts.items():
        typer.echo(f"  {layer:<18}{rows:>10,}")
    for note in exported.notes:
        typer.echo(f"  {note}", err=True)
    shown = "完整 / in full" if exported.personal_data else "已脱敏 / masked"
    typer.echo(f"已导出街道 {exported.subdistrict} / exported {exported.subdistrict} to {file}"
               + (f"（居民身份证号与电话{shown}）" if format == "xlsx" else ""))
