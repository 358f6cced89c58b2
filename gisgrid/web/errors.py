"""Errors as HTTP: clear 4xx with what and where, never a stack trace or SQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from html import escape
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gisgrid.auth.access import caller, caller_async
from gisgrid.auth.routes import current_account
from gisgrid.core.errors import MEANINGS, GisgridError, Problem

log = logging.getLogger(__name__)

# lock_not_available, deadlock_detected, serialization_failure, and a unique key taken by a
# change that committed first: the same request may well succeed on a second try
RETRYABLE = {"55P03", "40P01", "40001", "23505"}


# pydantic's checks, in Chinese (the English half is pydantic's own message)
VALIDATION_ZH = {
    "missing": "必须填写", "extra_forbidden": "不是可填的字段", "json_invalid": "不是有效的 JSON",
    "string_too_long": "最多 {max_length} 个字符", "string_too_short": "至少 {min_length} 个字符",
    "too_long": "最多 {max_length} 项", "too_short": "至少 {min_length} 项",
    "greater_than_equal": "应不小于 {ge}", "less_than_equal": "应不大于 {le}", "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}", "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "finite_number": "应为有限的数字",
    "string_type": "应为文字", "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "literal_error": "应为以下之一：{expected}", "enum": "应为以下之一：{expected}",
    "string_pattern_mismatch": "格式不对", "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "datetime_parsing": "应为时间（ISO 8601）",
    "datetime_from_date_parsing": "应为时间（ISO 8601）", "list_type": "应为列表", "dict_type": "应为对象",
    "model_type": "应为对象", "model_attributes_type": "应为对象", "uuid_parsing": "应为 UUID",
}


def validation_message(error: dict) -> tuple[str, str]:
    """Where, and "中文 / English" for one of pydantic's errors (our own validators' messages,
    already bilingual, pass through)."""
    loc = [str(p) for p in error.get("loc", ())]
    where = ".".join(loc)
    field = ".".join(loc[1:] if len(loc) > 1 and loc[0] in ("body", "query", "path", "header") else loc)
    english = error.get("msg", "")
    if error.get("type") == "value_error":
        own = english.removeprefix("Value error, ")
        return where, own if " / " in own else f"{field}：{own} / {field}: {own}"
    template = VALIDATION_ZH.get(error.get("type", ""), "不符合要求")
    try:
        chinese = template.format(**{k: v for k, v in (error.get("ctx") or {}).items()})
    except (KeyError, IndexError):
        chinese = template
    return where, f"{field}：{chinese} / {field}: {english}"


def error_page(exc: GisgridError) -> str:
    """A refused or missing page as a page: the bilingual message, and the ways on."""
    title = {403: "无此权限 / Not allowed", 404: "没有找到 / Not found"}.get(exc.status, "请求有误 / Cannot do that")
    return (f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{title}</title>'
            '<link rel="stylesheet" href="/static/vendor/bootstrap/dist/css/bootstrap.min.css"></head><body><main class="container" style="max-width:40em;margin-top:3em">'
            f'<h1>{title}</h1><p>{escape(exc.message)}</p>'
            '<p><a href="/">首页 / Home</a> · <a href="/sign-in">换个账号登录 / Sign in as someone else</a></p>'
            '</main></body></html>')


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GisgridError)
    async def _domain(request: Request, exc: GisgridError) -> Response:
        if exc.status == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            # a page asked for by a browser that is not signed in: to the sign-in page, and back
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(error_page(exc), status_code=exc.status)  # a person at a browser reads it
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [dict(zip(("where", "message"), validation_message(err), strict=True)) for err in exc.errors()]
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
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, a broken form): invalid input
            return JSONResponse({"error": "invalid_input", "where": "body", "message": "请求体无法解析 / the body "
                                 "could not be read (not UTF-8 JSON, or a broken multipart form)"}, status_code=422)
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
        # psycopg refuses to send NUL, and jsonb to hold it (22P05): no field may hold one
        if "NUL (0x00)" in str(exc.orig) or state == "22P05":
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


def document_errors(app: FastAPI) -> None:
    """Every operation of the OpenAPI document lists the error statuses it answers, each with the
    ``Problem`` body the handlers above write: 401 where a signed-in caller is needed, 403 where a
    function is too, 404 where the path names an object, 413 where there is a body, and 422 with
    ``Problem`` instead of FastAPI's validation body, which this app never sends. A route that
    answers other statuses for reasons of its own (409, 428, 429, a 404 for an object named in the
    query) declares them with ``responses=gisgrid.core.errors.responses(...)``."""
    generate = app.openapi
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def openapi() -> dict:
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema()
        for route in api_routes(app.routes):
            if not route.include_in_schema:
                continue
            for method in route.methods - {"HEAD"}:
                answers = doc["paths"][route.path_format][method.lower()]["responses"]
                for status in _statuses(route):
                    answers.setdefault(str(status), {"description": MEANINGS[status]})
                for status, answer in answers.items():
                    if status.startswith("4"):
                        answer["content"] = problem
                        if answer.get("description") == "Validation Error":
                            answer["description"] = MEANINGS[422]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        return doc

    app.openapi = openapi


def api_routes(routes) -> Iterator[APIRoute]:
    """Every API route, those of included routers too."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router, kept whole
        if inner is not None:
            yield from api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def dependency_calls(dependant: Dependant) -> Iterator:
    """What a route depends on, directly or through other dependencies."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from dependency_calls(dependency)


def _statuses(route: APIRoute) -> set[int]:
    calls = set(dependency_calls(route.dependant))
    statuses = set()
    if calls & {caller, caller_async, current_account}:
        statuses.add(401)
    if any(getattr(call, "__name__", "").startswith("needs_") for call in calls):
        statuses.add(403)
    if "{" in route.path_format:
        statuses.add(404)
    if route.body_field is not None:
        statuses.add(413)
    return statuses
