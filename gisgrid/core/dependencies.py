"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput


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
    x_staff_id: int | None = Header(None, ge=1, le=2_147_483_647,
                                    description="the acting staff member's id, when staff act"),
    session: Session = Depends(get_session),
) -> Actor:
    name = unquote(x_actor)[:100] if x_actor else "api"
    if "\x00" in name or not name.strip():
        raise InvalidInput("X-Actor 不能为空或含 NUL 字符 / X-Actor must be a name without NUL characters",
                           where="X-Actor")
    if x_staff_id is not None and session.execute(text("SELECT 1 FROM staff WHERE id = :id"),
                                                  {"id": x_staff_id}).first() is None:
        raise InvalidInput(f"没有工作人员 {x_staff_id} / no staff member {x_staff_id}", where="X-Staff-Id")
    return Actor(name, x_staff_id)
