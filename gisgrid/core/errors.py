"""Domain errors and their mapping to HTTP: clear 4xx with what and where, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class GisgridError(Exception):
    """Base of errors a user can act on; ``status`` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, where: str | None = None, **detail: object):
        super().__init__(message)
        self.message = message
        self.where = where
        self.detail = detail

    def to_dict(self) -> dict:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.where:
            body["where"] = self.where
        if self.detail:
            body["detail"] = self.detail
        return body


class NotFound(GisgridError):
    status = 404
    code = "not_found"


class InvalidInput(GisgridError):
    status = 422
    code = "invalid_input"


class Conflict(GisgridError):
    status = 409
    code = "conflict"


class SetupError(GisgridError):
    """The machine lacks something gisgrid needs (binaries, a running database)."""

    status = 503
    code = "setup"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GisgridError)
    async def _domain(_: Request, exc: GisgridError) -> JSONResponse:
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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal", "message": "internal error; the server log has the details"},
            status_code=500,
        )
