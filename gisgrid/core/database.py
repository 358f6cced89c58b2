"""Engine and sessions. The owner's URL is ``GISGRID_DATABASE_URL`` or the embedded cluster's;
the HTTP app connects as the application role instead (``GISGRID_APP_DATABASE_URL`` or the
embedded cluster's ``gisgrid_app``), which cannot change the audit log or the schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gisgrid.core.embedded import APP_ROLE, Cluster
from gisgrid.core.settings import get_settings

log = logging.getLogger("gisgrid")


class Base(DeclarativeBase):
    """Declarative base of every table; the schema itself is created only by Alembic."""


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    return Cluster(settings.home_dir).url()


def app_database_url() -> str:
    """Where the HTTP app connects: as the application role, never the owner when avoidable."""
    settings = get_settings()
    if settings.app_database_url:
        return normalise_url(settings.app_database_url)
    if settings.database_url:
        log.warning("GISGRID_APP_DATABASE_URL is not set: the app connects as the owner of the database, "
                    "which could alter the audit log; give it the %s role (see the README, Settings)", APP_ROLE)
        return normalise_url(settings.database_url)
    return Cluster(settings.home_dir).url(role=APP_ROLE)


@lru_cache
def engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    return engine_for(database_url())


def get_app_engine() -> Engine:
    return engine_for(app_database_url())


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work for the CLI: commit on success, roll back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def set_change_context(session: Session, *, actor: str, reason: str, operation: str) -> None:
    """Tell the history triggers who changes records in this transaction, and why (one round trip:
    in a ledger end it runs for each resident while the tile-cache lock is held)."""
    session.execute(text("SELECT set_config('gisgrid.actor', :actor, true), set_config('gisgrid.reason', :reason, true), "
                         "set_config('gisgrid.operation', :operation, true)"),
                    {"actor": actor, "reason": reason, "operation": operation})
