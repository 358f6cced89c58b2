"""Domain errors a user can act on; ``gisgrid.web.errors`` maps them to HTTP responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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


class Unauthorised(GisgridError):
    """No caller, or credentials that do not open a session."""

    status = 401
    code = "unauthorised"


class Forbidden(GisgridError):
    """A caller whose role may not use the function."""

    status = 403
    code = "forbidden"


class TooManyAttempts(GisgridError):
    status = 429
    code = "too_many_requests"


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


class PreconditionRequired(GisgridError):
    """A change that must say which version it starts from (If-Match / ``versions``) did not."""

    status = 428
    code = "precondition_required"


class Problem(BaseModel):
    """The body of every error answer, as the OpenAPI document shows it."""

    error: str = Field(description="a stable code: invalid_input, not_found, unauthorised, forbidden, conflict, "
                       "precondition_required, too_large, too_many_requests …")
    message: str = Field(description="what went wrong, 中文 / English")
    where: str | None = Field(None, description="the parameter, field or header at fault")
    detail: dict[str, Any] | None = None


MEANINGS = {
    401: "未登录 / not signed in (no or an expired token or key)",
    403: "角色无此权限 / the caller's role may not use this",
    404: "不存在或不在本人范围内 / not there, or outside the caller's scope",
    409: "与当前状态冲突 / conflicts with the current state: reload and try again",
    413: "请求体过大 / the request body is above GISGRID_MAX_BODY_BYTES",
    422: "输入有误，where 指明位置 / invalid input; `where` says which",
    428: "缺少版本 / the change must say which version it starts from (If-Match)",
    429: "过于频繁 / too many requests from this address: wait and try again",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers these error statuses beyond those every route of its
    kind documents (see ``gisgrid.web.errors.document_errors``)."""
    return {status: {"model": Problem, "description": MEANINGS[status]} for status in statuses}
