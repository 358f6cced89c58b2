from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gisgrid import __version__
from gisgrid.core import migrate
from gisgrid.core.dependencies import get_session

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    postgres: str | None = None
    postgis: str | None = None
    migration: str | None = None
    migration_head: str | None = None


@router.get("/health", response_model=Health, summary="服务状态 / Health")
def health(session: Session = Depends(get_session)) -> JSONResponse:
    """Database reachability, PostgreSQL and PostGIS versions, and whether migrations are at head."""
    head = migrate.head_revision()
    try:
        row = session.execute(text(
            "SELECT current_setting('server_version'), postgis_lib_version(),"
            " (SELECT version_num FROM alembic_version LIMIT 1)"
        )).one()
    except SQLAlchemyError:
        body = Health(status="error", version=__version__, database="unreachable or not migrated",
                      migration_head=head)
        return JSONResponse(body.model_dump(), status_code=503)
    at_head = row[2] == head
    body = Health(
        status="ok" if at_head else "degraded",
        version=__version__,
        database="ok",
        postgres=row[0],
        postgis=row[1],
        migration=row[2],
        migration_head=head,
    )
    return JSONResponse(body.model_dump(), status_code=200 if at_head else 503)
