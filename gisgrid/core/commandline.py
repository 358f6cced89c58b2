"""The plumbing every ``gisgrid`` command shares: the database made ready, a refusal printed.

The domains' command modules (``grids.commands``, ``imports.command``, ``keys.commands``,
``reports.commands``) import this, never ``gisgrid.cli``: the command line sits on top and
registers them, so the layering stays one way. Kept light at import time (typer only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from gisgrid.core.errors import GisgridError


def fail(exc: GisgridError, note: str | None = None) -> NoReturn:
    """The refusal as the user reads it, on standard error, and exit status 2: the message, the
    further problems and the current version when the error carries them, then ``note``."""
    typer.secho(f"错误 / error: {exc.message}", fg=typer.colors.RED, err=True)
    for problem in exc.detail.get("problems", [])[1:]:
        typer.secho(f"  {problem.get('where', '')}: {problem['message']}", fg=typer.colors.RED, err=True)
    if "current_version" in exc.detail:
        typer.secho(f"  当前版本 / current version: {exc.detail['current_version']}", err=True)
    if note:
        typer.echo(note, err=True)
    raise typer.Exit(code=2)


def cluster():
    """The embedded cluster in the settings' home folder."""
    from gisgrid.core.embedded import Cluster
    from gisgrid.core.settings import get_settings

    return Cluster(get_settings().home_dir)


def external_url() -> str | None:
    """``GISGRID_DATABASE_URL`` when an existing PostGIS is in use, else None (the embedded one)."""
    from gisgrid.core.database import normalise_url
    from gisgrid.core.settings import get_settings

    url = get_settings().database_url
    return normalise_url(url) if url else None


def ensure_database(quiet: bool = False) -> str:
    """Start the embedded cluster if it is the one in use, bring the schema to head (and give the
    embedded cluster's application role its login); the owner's URL."""
    from gisgrid.core import migrate

    url = external_url()
    embedded = None
    if url is None:
        embedded = cluster()
        message = embedded.up()
        if not quiet:
            typer.echo(message)
        from gisgrid.core.database import database_url

        url = database_url()
    migrate.upgrade(url)
    if embedded is not None:
        embedded.allow_app_login()
    return url


def command_sessions():
    """The database made ready (quietly) for one command; its session factory."""
    from gisgrid.core.database import session_factory

    ensure_database(quiet=True)
    return session_factory()


def command_session():
    """The database made ready (quietly); one session of it, to use in a ``with`` block."""
    return command_sessions()()


@contextmanager
def command_change(*, save: bool) -> Iterator:
    """The database made ready (quietly); one session whose change is committed at the end when
    ``save``, rolled back when not (a dry run) and on any error."""
    session = command_session()
    try:
        yield session
        if save:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
