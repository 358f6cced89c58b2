"""What every response and request goes through: security headers, a cap on request bodies, the
audit trail (gisgrid.audit.trail) and a time limit on every statement a request runs."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gisgrid.audit.trail import AuditTrail
from gisgrid.core.settings import get_settings


def _csp() -> str:
    """Scripts, styles and data from the app itself; images also from the basemap's host (its
    URL is a setting). folium writes its map set-up inline, hence 'unsafe-inline' for scripts;
    the API reference (ReDoc) runs a worker from a blob."""
    basemap = urlsplit(get_settings().basemap_url)
    tiles = f" {basemap.scheme}://{basemap.netloc}" if basemap.netloc else ""
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


class Hardening:
    """Security headers on every response; a body above ``GISGRID_MAX_BODY_BYTES`` is refused
    with 413 before the route reads it (by its Content-Length, or as it streams in)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.limit = get_settings().max_body_bytes
        self.headers = [
            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"), (b"content-security-policy", _csp().encode()),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        seen = 0
        over = False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # streamed past the cap: end the body here; the answer is 413
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def answer(message: Message) -> None:
            if over:  # whatever the route made of the cut body, the client gets 413 instead
                if message["type"] == "http.response.start":
                    await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.headers if h[0] not in names]
            await send(message)

        await self.app(scope, counted, answer)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"error": "too_large", "where": "body", "message": f"请求体超过 {self.limit} 字节 / the "
                           f"request body is larger than {self.limit} bytes"}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *self.headers]})
        await send({"type": "http.response.body", "body": body})


def limit_statements(factory: sessionmaker) -> None:
    """Every transaction of the app's sessions runs under ``GISGRID_STATEMENT_TIMEOUT_MS``."""
    timeout = int(get_settings().statement_timeout_ms)

    @event.listens_for(factory, "after_begin")
    def _timeout(session, transaction, connection) -> None:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout}")


def install(app: FastAPI) -> None:
    app.add_middleware(AuditTrail)
    app.add_middleware(Hardening)
