"""``gisgrid keys …``: a fresh key entry, which keys seal the data, and the re-seal of a rotation.

Rotation, step by step, is in the README (Settings).
"""

from __future__ import annotations

import sys

import typer

from gisgrid.core.commandline import command_sessions, fail
from gisgrid.core.errors import GisgridError

keys_app = typer.Typer(help="个人数据密钥 / the personal-data keys (GISGRID_DATA_KEY): rotation",
                       no_args_is_help=True)


@keys_app.command("new")
def new() -> None:
    """生成新密钥 / print a fresh ``id:base64key`` entry to put first in GISGRID_DATA_KEY."""
    from gisgrid.core.secrets import Keyring, configured_spec, generated_key_path, new_key_entry
    from gisgrid.core.settings import get_settings

    try:
        spec = configured_spec()
        ids = list(Keyring.parse(spec).keys) if spec else []
        entry = new_key_entry(ids)
    except GisgridError as exc:
        fail(exc)
    typer.echo(entry)
    if get_settings().data_key:
        now = ",".join(f"{kid}:…" for kid in ids)
        typer.echo(f"放在最前 / put it first: GISGRID_DATA_KEY={entry.split(':')[0]}:…,{now}", err=True)
    elif ids:
        typer.echo(f"现用密钥在 / the key in use was generated into {generated_key_path()}: set "
                   "GISGRID_DATA_KEY=<this entry>,<its data_key>", err=True)
    typer.echo("然后重启每个进程并运行 / then restart every process with it and run `gisgrid keys reseal`", err=True)


@keys_app.command("status")
def status() -> None:
    """各密钥加密的数量 / how many values each key id seals, per column (newest marked *)."""
    from gisgrid.core.secrets import keyring
    from gisgrid.keys.service import key_counts

    try:
        current = keyring().current
        with command_sessions().begin() as session:
            counts = key_counts(session)
    except GisgridError as exc:
        fail(exc)
    _print_counts(counts, current)


@keys_app.command("reseal")
def reseal(batch: int = typer.Option(1000, min=1, help="rows per transaction")) -> None:
    """用最新密钥重新加密 / re-seal every value under the newest key and rewrite the blind
    indexes, in batches (safe to stop and run again)."""
    from gisgrid.core.secrets import keyring
    from gisgrid.keys.service import key_counts
    from gisgrid.keys.service import reseal as reseal_all

    def progress(table: str, rows: int) -> None:
        if sys.stderr.isatty():
            typer.echo(f"\r  {table}: {rows:,} rows", err=True, nl=False)

    try:
        ring = keyring()
        sessions = command_sessions()
        done = reseal_all(sessions, ring, batch=batch, progress=progress)
        with sessions.begin() as session:
            counts = key_counts(session)
    except GisgridError as exc:
        fail(exc)
    if sys.stderr.isatty():
        typer.echo("", err=True)
    typer.echo(f"重新加密 / re-sealed under key {ring.current}:")
    for name, count in done.items():
        typer.echo(f"  {name:<28}{count:>12,}")
    _print_counts(counts, ring.current)
    if any(kid != ring.current for per_key in counts.values() for kid in per_key):
        typer.secho("仍有旧密钥数据：请再运行一次 / values are still sealed under an older key: run it again "
                    "once every process uses the new setting", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=1)


def _print_counts(counts: dict[str, dict[int, int]], current: int) -> None:
    typer.echo("按密钥 / values per key id (* newest):")
    for name, per_key in counts.items():
        keys = ", ".join(f"{kid}{'*' if kid == current else ''}: {n:,}" for kid, n in per_key.items()) or "—"
        typer.echo(f"  {name:<28}{keys}")
