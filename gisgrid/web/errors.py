"""Errors as HTTP: clear 4xx with what and where, never a stack trace or SQL."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gisgrid.core.errors import GisgridError

log = logging.getLogger(__name__)

# lock_not_available, deadlock_detected, serialization_failure, and a unique key taken by a
# change that committed first: the same request may well succeed on a second try
RETRYABLE = {"55P03", "40P01", "40001", "23505"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GisgridError)
    async def _domain(request: Request, exc: GisgridError) -> Response:
        if exc.status == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            # a page asked for by a browser that is not signed in: to the sign-in page, and back
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "where": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"where": None, "message": "invalid request"}
        return JSONResponse(
            {
                "error": "invalid_input",
                "message": first["message"],
                "where": first["where"],
                "detail": {"problems": problems},
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        """Races the database settles (a lock held too long, a deadlock, a row changed under
        us) are conflicts to retry; anything else is logged and stays an internal error."""
        state = getattr(exc.orig, "sqlstate", None) or ""
        if "NUL (0x00)" in str(exc.orig):  # psycopg refuses to send it; no field may hold one
            return JSONResponse({"error": "invalid_input", "message": "文字中不能含 NUL 字符 / text must not contain "
                                 "NUL (\\u0000) characters", "where": "body"}, status_code=422)
        if state in RETRYABLE:
            log.warning("database conflict %s on %s %s", state, request.method, request.url.path)
            return JSONResponse({"error": "conflict", "message": "另一修改正在进行，请稍后重试 / another change "
                                 "to the same data is in progress or just landed: reload and try again"},
                                status_code=409)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal", "message": "internal error; the server log has the details"},
            status_code=500,
        )
