"""Domain errors a user can act on; ``gisgrid.web.errors`` maps them to HTTP responses."""

from __future__ import annotations


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
