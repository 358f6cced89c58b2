"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Header, Request
from sqlalchemy.orm import Session


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, from the sessionmaker the app was built with."""
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


@dataclass(frozen=True)
class Actor:
    """Who acts: a name for the record and, for staff, their id (for per-worker figures)."""

    name: str
    staff_id: int | None = None


def get_actor(
    x_actor: str | None = Header(None, description="who acts, percent-encoded UTF-8 (until accounts exist)"),
    x_staff_id: int | None = Header(None, ge=1, description="the acting staff member's id, when staff act"),
) -> Actor:
    return Actor(unquote(x_actor)[:100] if x_actor else "api", x_staff_id)
