"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
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
    """Who acts: a name for the record and, for staff, their id (for per-worker figures); the
    account's role when a signed-in person acts (the case loop keeps some steps from some roles)."""

    name: str
    staff_id: int | None = None
    role: str | None = None
