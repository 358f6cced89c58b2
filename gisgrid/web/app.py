"""The FastAPI application factory: every domain's routes over one sessionmaker."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Engine

from gisgrid import __version__
from gisgrid.auth.access import RecentCallers
from gisgrid.auth.account_routes import router as account_router
from gisgrid.auth.routes import router as auth_router
from gisgrid.cases.routes import router as cases_router
from gisgrid.cases.workflow import escalate_overdue
from gisgrid.core.clock import Clock, SystemClock
from gisgrid.core.database import get_app_engine, session_factory
from gisgrid.core.settings import get_settings
from gisgrid.coverage.routes import router as coverage_router
from gisgrid.desk import page as desk_page
from gisgrid.desk.routes import router as desk_router
from gisgrid.division.routes import router as division_router
from gisgrid.field import routes as field_pages
from gisgrid.fieldwork.routes import router as fieldwork_router
from gisgrid.grids.edit_routes import router as grid_editing_router
from gisgrid.grids.routes import router as grids_router
from gisgrid.imports.routes import router as imports_router
from gisgrid.layers.definitions import read_layers
from gisgrid.ledger.routes import router as ledger_router
from gisgrid.maps.page_routes import router as map_pages_router
from gisgrid.maps.routes import router as layers_router
from gisgrid.onboarding.routes import router as onboarding_router
from gisgrid.onboarding.territory_routes import router as onboarding_territory_router
from gisgrid.organisations.routes import router as organisations_router
from gisgrid.pagekit import assets, frame
from gisgrid.registry.routes import router as buildings_router
from gisgrid.reports.routes import router as reports_router
from gisgrid.staff.routes import router as staff_router
from gisgrid.teams.routes import router as teams_router
from gisgrid.territory.routes import router as territory_router
from gisgrid.web import hardening
from gisgrid.web.audit import router as audit_router
from gisgrid.web.errors import document_errors, install_handlers
from gisgrid.web.health import router as health_router
from gisgrid.web.pages import router as pages_router

log = logging.getLogger("gisgrid")

DESCRIPTION = """
网格化管理 GIS 服务：街道 → 社区片区 (L1) → 网格 (L2) → 微网格 (L3)。

GIS service for grid-based community management. Spatial data are GeoJSON (RFC 7946):
WGS84 lon/lat, counter-clockwise exterior rings, paged with `limit`/`offset` and
`numberMatched`. Errors are JSON `{"error", "message", "where"}` with a 4xx status.
"""


def create_app(engine: Engine | None = None, layers_dir: Path | None = None, clock: Clock | None = None) -> FastAPI:
    """The app on ``engine`` (by default as the application role, see ``app_database_url``); its
    map layers are read (and checked) from ``layers_dir`` now, so a broken layer file stops the
    start with its name and field. ``clock`` is the time deadlines are judged by (tests pass a
    clock they move)."""
    engine = engine or get_app_engine()
    layers = read_layers(layers_dir or get_settings().layers_dir)
    app = FastAPI(
        title="gisgrid",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(engine),
    )
    app.state.sessionmaker = session_factory(engine)
    hardening.limit_statements(app.state.sessionmaker)
    app.state.clock = clock or SystemClock()
    app.state.recent_callers = RecentCallers()
    app.state.layers = layers
    install_handlers(app)
    hardening.install(app)
    _mount_static(app)
    _add_docs(app)
    _include_routers(app)
    document_errors(app)
    return app


def _lifespan(engine: Engine):
    """An async pool beside the engine, for the hot read paths (``/lookup``, vector tiles), and
    the sweep that escalates overdue cases. Autocommit: a single read needs no BEGIN and
    COMMIT round trips; writers open a transaction themselves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with AsyncConnectionPool(conninfo, min_size=2, max_size=16, open=False,
                                       kwargs={"autocommit": True}) as pool:
            app.state.pool = pool
            sweep = asyncio.create_task(_sweep_overdue(app)) if get_settings().case_sweep_seconds > 0 else None
            yield
            if sweep is not None:
                sweep.cancel()

    return lifespan


def _mount_static(app: FastAPI) -> None:
    """Every script and stylesheet is served by the app itself, never fetched from a CDN.
    The docs assets first: /static would otherwise swallow /static/docs."""
    app.mount("/static/docs", StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    assets.check_installed()
    app.mount("/static/vendor", StaticFiles(directory=assets.FRONTEND), name="vendor")
    app.mount("/field/static", StaticFiles(directory=field_pages.STATIC), name="field-static")
    app.mount("/desk/static", StaticFiles(directory=desk_page.STATIC), name="desk-static")
    app.mount("/static/kit", StaticFiles(directory=frame.STATIC), name="kit-static")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")


def _add_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc on the assets mounted above, with no CDN and no web fonts."""

    @app.get("/docs", include_in_schema=False)
    def swagger():
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="gisgrid API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="gisgrid API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )


def _include_routers(app: FastAPI) -> None:
    """Routes are matched in order, router by router: the layers (vector tiles, the hottest path)
    first, so a tile request does not walk every other router's routes."""
    for router in (layers_router, pages_router, health_router, auth_router, account_router, territory_router, grids_router,
                   grid_editing_router, buildings_router, organisations_router, staff_router, coverage_router,
                   cases_router, fieldwork_router, reports_router, imports_router, audit_router, onboarding_territory_router,
                   onboarding_router, ledger_router, teams_router, field_pages.router, desk_router, division_router,
                   map_pages_router):
        app.include_router(router)


async def _sweep_overdue(app: FastAPI) -> None:
    """Escalate cases past their handling deadline, every ``GISGRID_CASE_SWEEP_SECONDS``."""
    while True:
        await asyncio.sleep(get_settings().case_sweep_seconds)
        try:
            await run_in_threadpool(_sweep_once, app)
        except Exception:  # the sweep must outlive a bad moment of the database; it is logged
            log.exception("case sweep failed")


def _sweep_once(app: FastAPI) -> None:
    with app.state.sessionmaker() as session:
        escalated = escalate_overdue(session, app.state.clock.now())
        session.commit()
    if escalated:
        log.info("escalated %d overdue cases: %s", len(escalated), ", ".join(escalated[:20]))
