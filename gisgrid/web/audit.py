"""HTTP for auditors: reading the audit log (no one can change it, see migration 0002).

Here rather than in ``gisgrid.audit``: the log sits below ``auth``, which writes sign-ins to it,
and this route needs ``auth``'s access check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from gisgrid.audit import service
from gisgrid.auth.access import needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.paging import JsonPage, Page, page_params

router = APIRouter(tags=["audit"])


@router.get("/audit", dependencies=[Depends(needs("audit"))], summary="审计日志 / The audit log (auditors)")
def audit_log(
    actor: str | None = Query(None, max_length=100, description="an account's username, or anonymous / public"),
    action: str | None = Query(None, max_length=50, description="sign_in, reveal, export, edit, access, public_report …"),
    outcome: str | None = Query(None, max_length=20, description="ok, refused, not_found, rate_limited …"),
    since: datetime | None = Query(None, description="from this moment (with time zone)"),
    until: datetime | None = Query(None, description="before this moment (with time zone)"),
    page: Page = Depends(page_params),
    session: Session = Depends(get_session),
) -> JsonPage[dict[str, Any]]:
    """Newest first: who, when, what, from where and the outcome. The whole city's log: auditors
    check every account, so their reading is not limited to a grid (and they see no persons:
    entries name accounts and objects, never a person's data)."""
    return service.entries(session, actor=actor, action=action, outcome=outcome, since=since, until=until, page=page)
