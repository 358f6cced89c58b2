"""HTTP for signing in and out, the signed-in account, its second factor and password, and
API keys. A session token travels as ``Authorization: Bearer …`` or in the HttpOnly cookie the
sign-in sets (for the pages)."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.auth import service
from gisgrid.auth.access import COOKIE, Principal, caller, token_of
from gisgrid.core.clock import Clock, Moment, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import Role
from gisgrid.core.errors import Forbidden, responses

router = APIRouter(tags=["accounts"])
Strict = ConfigDict(extra="forbid")


class SignInBody(BaseModel):
    model_config = Strict

    username: str = Field(min_length=1, max_length=50)
    password: str = Field(min_length=1, max_length=200)
    code: str | None = Field(None, pattern="^[0-9]{6}$", description="the authenticator's code, when the account has one")


class CodeBody(BaseModel):
    model_config = Strict

    code: str = Field(pattern="^[0-9]{6}$")


class PasswordBody(BaseModel):
    model_config = Strict

    current: str = Field(min_length=1, max_length=200)
    new: str = Field(min_length=1, max_length=200)


class ApiKeyBody(BaseModel):
    model_config = Strict

    account_id: int = Field(ge=1, description="the account the key acts as")
    name: str = Field(min_length=1, max_length=100)
    expires_at: Moment | None = Field(None, description="RFC 3339 date-time; none: never")


def current_account(principal: Principal = Depends(caller), session: Session = Depends(get_session)) -> dict:
    """The signed-in account, or 401."""
    return service.account(session, principal.account_id)


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/auth/sign-in", summary="登录 / Sign in", responses=responses(401, 429))
def sign_in(body: SignInBody, request: Request, clock: Clock = Depends(get_clock),
            session: Session = Depends(get_session)) -> JSONResponse:
    signed = service.sign_in(session, username=body.username, password=body.password, code=body.code,
                             client_addr=client_addr(request), now=clock.now())
    session.commit()
    answer = JSONResponse({"token": signed.token, "expires_at": signed.expires_at.isoformat(),
                           "account": signed.account})
    answer.set_cookie(COOKIE, signed.token, expires=signed.expires_at.astimezone(UTC), httponly=True, samesite="strict",
                      secure=request.url.scheme == "https", path="/")
    return answer


@router.post("/auth/sign-out", summary="退出 / Sign out")
def sign_out(request: Request, clock: Clock = Depends(get_clock), session: Session = Depends(get_session)):
    token = token_of(request)
    if token:
        service.sign_out(session, token, clock.now())
        session.commit()
        request.app.state.recent_callers.forget(service.digest(token))
    answer = JSONResponse({"signed_out": True})
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/auth/me", summary="当前账号 / The signed-in account")
def me(account: dict = Depends(current_account)) -> dict:
    return account


@router.post("/auth/second-factor", summary="启用动态口令 / Start a second factor (TOTP)")
def start_second_factor(account: dict = Depends(current_account), session: Session = Depends(get_session)) -> dict:
    """The secret and an otpauth:// URI for the authenticator app; confirm it with a first code."""
    started = service.start_second_factor(session, account["id"])
    session.commit()
    return started


@router.post("/auth/second-factor/confirm", summary="确认动态口令 / Confirm the second factor",
             responses=responses(409))
def confirm_second_factor(body: CodeBody, account: dict = Depends(current_account), clock: Clock = Depends(get_clock),
                          session: Session = Depends(get_session)) -> dict:
    service.confirm_second_factor(session, account["id"], body.code, clock.now())
    session.commit()
    return service.account(session, account["id"])


@router.post("/auth/password", summary="修改密码 / Change the password")
def change_password(body: PasswordBody, account: dict = Depends(current_account), clock: Clock = Depends(get_clock),
                    session: Session = Depends(get_session)) -> dict:
    """Needs the current password; every session of the account ends (sign in again)."""
    service.check_password(session, account["id"], body.current)
    service.set_password(session, account["id"], body.new, clock.now())
    session.commit()
    return {"changed": True}


@router.post("/auth/api-keys", status_code=201, summary="新建接口密钥 / Create an API key (administrators)",
             responses=responses(403, 404))
def create_api_key(body: ApiKeyBody, account: dict = Depends(current_account),
                   session: Session = Depends(get_session)) -> dict:
    """The key is in this answer only; it acts as the account it names."""
    if account["role"] != Role.ADMIN:
        raise Forbidden("只有管理员可以发放接口密钥 / only administrators issue API keys", where="role")
    key = service.create_api_key(session, body.account_id, body.name, body.expires_at)
    session.commit()
    return key


@router.delete("/auth/api-keys/{key_id}", status_code=204, summary="吊销接口密钥 / Revoke an API key",
               responses=responses(403))
def revoke_api_key(key_id: int = Path(..., ge=1), account: dict = Depends(current_account),
                   clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> None:
    if account["role"] != Role.ADMIN:
        raise Forbidden("只有管理员可以吊销接口密钥 / only administrators revoke API keys", where="role")
    service.revoke_api_key(session, key_id, clock.now())
    session.commit()
