"""The audit trail of HTTP requests: every change, every export and every refused access, written
by one middleware so no route can forget it.

Routes record what only they know (a sign-in's account, a reveal's field and reason) themselves
and mark the request ``audited``; everything else is recorded here from the request and its
status: who (the signed-in account, or ``anonymous``), when, what (method, path, the names of the
query parameters — never their values, which may be a searched ID number), from where and the
outcome. The entry is written on the app's async pool before the response goes out, so a client
that reads the log after an answer finds the entry there.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SELF_RECORDED = ("/auth/sign-in", "/public/")  # they write their own entries (and the public have no account)
OUTCOMES = {401: "refused", 403: "refused", 404: "not_found", 409: "conflict", 413: "too_large", 429: "rate_limited"}
INSERT = """INSERT INTO audit_log (actor, action, object_type, object_id, client_addr, outcome, detail)
            VALUES (%s, %s, %s, %s, %s::inet, %s, %s::jsonb)"""


def action_of(method: str, path: str, status: int, attachment: bool, signed_in: bool) -> str | None:
    """What the request was, for the log, or None when it is not audited (a plain read)."""
    if path.startswith(SELF_RECORDED):
        return None
    if status in (401, 403) or (status == 404 and signed_in):
        return "access"
    if method in CHANGES:
        return "edit"
    if attachment and status < 400:
        return "export"
    return None


def outcome_of(status: int) -> str:
    return "ok" if status < 400 else OUTCOMES.get(status, f"rejected_{status}")


class AuditTrail:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._record(scope, message)
            await send(message)

        await self.app(scope, receive, recorded)

    async def _record(self, scope: Scope, start: Message) -> None:
        state = scope.get("state", {})
        if state.get("audited"):
            return
        principal = state.get("principal")
        status = start["status"]
        headers = dict(start.get("headers", []))
        attachment = headers.get(b"content-disposition", b"").startswith(b"attachment")
        action = action_of(scope["method"], scope["path"], status, attachment, principal is not None)
        if action is None:
            return
        parts = scope["path"].strip("/").split("/")
        query = sorted({pair.split(b"=")[0].decode("latin-1") for pair in scope.get("query_string", b"").split(b"&")
                        if pair})
        detail = {"method": scope["method"], "path": scope["path"], "status": status, "query": query}
        client = scope.get("client")
        pool = scope["app"].state.pool
        async with pool.connection() as conn:
            await conn.execute(INSERT, (
                principal.username if principal else "anonymous", action, parts[0][:50] or None,
                parts[1][:100] if len(parts) > 1 else None, client[0] if client else None, outcome_of(status),
                json.dumps(detail, ensure_ascii=False)))


def mark_audited(request) -> None:
    """A route that wrote its own, fuller entry tells the trail not to write a second one."""
    request.state.audited = True
