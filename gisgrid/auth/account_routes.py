"""HTTP for managing accounts (the ``teams`` function): the twins of ``gisgrid accounts …`` over
:mod:`gisgrid.auth.accounts`. An administrator bound to a sub-district manages that
sub-district's accounts only, a community manager the grid workers' accounts of their zone;
no answer holds a password or its hash."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.audit.trail import mark_audited
from gisgrid.auth import accounts
from gisgrid.auth.access import Principal, needs
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import Role
from gisgrid.core.errors import responses
from gisgrid.core.paging import JsonPage, Page, page_params

router = APIRouter(tags=["accounts"])
USERNAME = Path(..., min_length=1, max_length=50, description="the account's username")


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=50, description="letters, digits, _ . @ -")
    role: Role
    password: str = Field(min_length=1, max_length=200, description="checked against the password policy")
    subdistrict: str | None = Field(None, pattern="^[0-9]{9}$", description="an administrator's, viewer's or "
                                    "auditor's sub-district; none: the caller's (a city-wide caller: the city)")
    grid: str | None = Field(None, pattern="^[0-9]{12,18}$", description="a community manager's L1 code, or the "
                             "grid whose lead a grid worker is")
    staff_phone: str | None = Field(None, min_length=1, max_length=30, description="the staff member the account is")
    display_name: str | None = Field(None, min_length=1, max_length=100)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=200)


def _who(request: Request, me: Principal, clock: Clock) -> dict:
    """Who acts, from where, when, and which accounts they manage."""
    return {"within": me.subdistrict, "zone": me.community[1] if me.community else None,
            "actor": me.username, "now": clock.now(),
            "client_addr": request.client.host if request.client else None}


@router.get("/accounts", summary="账号列表 / Accounts (administrators, community managers)")
def list_accounts(request: Request, page: Page = Depends(page_params), me: Principal = Depends(needs("teams")),
                  clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> JsonPage[dict[str, Any]]:
    """Username, role, scope, staff, active, locked, last sign-in; of the caller's sub-district."""
    who = _who(request, me, clock)
    return accounts.accounts(session, within=who["within"], zone=who["zone"], page=page, now=who["now"])


@router.post("/accounts", status_code=201, summary="新建账号 / Create an account (administrators, community managers)",
             responses=responses(403, 404, 409))
def create_account(body: NewAccount, request: Request, me: Principal = Depends(needs("teams")),
                   clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> dict[str, Any]:
    """The scope follows the role (see ``gisgrid accounts create``); 409 for a taken username,
    422 for a weak password or an unknown grid or staff phone."""
    made = accounts.create(session, username=body.username, role=body.role, password=body.password,
                           subdistrict=body.subdistrict, grid=body.grid, staff_phone=body.staff_phone,
                           display_name=body.display_name, **_who(request, me, clock))
    session.commit()
    mark_audited(request)  # the service wrote the fuller entry; a refusal is left to the trail
    return made


@router.post("/accounts/{username}/disable", summary="停用账号 / Disable an account (administrators, community managers)",
             responses=responses(404, 409))
def disable_account(request: Request, username: str = USERNAME, me: Principal = Depends(needs("teams")),
                    clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> dict[str, Any]:
    """It cannot sign in and its sessions end; its API keys open nothing until it is enabled.
    Not one's own account (409)."""
    done = accounts.disable(session, username, own=me.username, **_who(request, me, clock))
    session.commit()
    mark_audited(request)
    return done


@router.post("/accounts/{username}/enable", summary="启用账号 / Enable an account (administrators, community managers)",
             responses=responses(404))
def enable_account(request: Request, username: str = USERNAME, me: Principal = Depends(needs("teams")),
                   clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> dict[str, Any]:
    """It may sign in again; a lockout is lifted too."""
    done = accounts.enable(session, username, **_who(request, me, clock))
    session.commit()
    mark_audited(request)
    return done


@router.post("/accounts/{username}/reset-password", summary="重设密码 / Reset a password (administrators, community managers)",
             responses=responses(404))
def reset_password(body: NewPassword, request: Request, username: str = USERNAME,
                   me: Principal = Depends(needs("teams")), clock: Clock = Depends(get_clock),
                   session: Session = Depends(get_session)) -> dict[str, Any]:
    """A new password under the policy; every session of the account ends (its API keys stay)."""
    done = accounts.reset_password(session, username, body.password, **_who(request, me, clock))
    session.commit()
    mark_audited(request)
    return done
