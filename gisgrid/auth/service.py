"""Accounts, signing in and out, sessions, API keys and the optional second factor.

Passwords are hashed with Argon2id (argon2-cffi's defaults follow RFC 9106). A sign-in that
fails says only "wrong username or password" whatever the cause; after
``GISGRID_LOCKOUT_ATTEMPTS`` failures in a row the account locks for ``GISGRID_LOCKOUT_MINUTES``,
and an address with ``GISGRID_SIGN_IN_RATE`` failures in five minutes gets 429. Every sign-in,
failed or not, is in the audit log. Session tokens and API keys are 256-bit random strings of
which only the SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import recent, record, record_now
from gisgrid.core.enums import Role
from gisgrid.core.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorised
from gisgrid.core.secrets import keyring
from gisgrid.core.settings import get_settings

HASHER = PasswordHasher()
DUMMY_HASH = HASHER.hash("a password nobody has")  # verified against when the username is unknown
API_KEY_PREFIX = "gg_"


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime
    account: dict


def check_password_strength(password: str, username: str) -> None:
    """At least 10 characters of at least three kinds, and not the username."""
    kinds = sum(any(test(c) for c in password) for test in (str.islower, str.isupper, str.isdigit,
                                                             lambda c: not c.isalnum()))
    if len(password) < 10 or kinds < 3 or username.lower() in password.lower():
        raise InvalidInput("密码至少 10 位，含大小写字母、数字、符号中的三类，且不含用户名 / a password has at least 10 "
                           "characters of three kinds (lower, upper, digit, symbol) and does not contain the username",
                           where="password")


def create_account(session: Session, *, username: str, display_name: str, role: Role, password: str,
                   subdistrict: str | None = None, scope_grid: str | None = None, staff_id: int | None = None) -> dict:
    """An account with its scope: a community manager names their L1 grid, a grid worker their
    staff record (their grids are that person's grid assignments)."""
    check_password_strength(password, username)
    grid_id = None
    if role is Role.COMMUNITY_MANAGER:
        grid = session.execute(text("SELECT id, subdistrict_code FROM grids WHERE code = :c AND level = 1"),
                               {"c": scope_grid}).first()
        if grid is None:
            raise InvalidInput(f"社区管理员须指定一级网格，{scope_grid!r} 不是 / a community manager needs an L1 grid "
                               f"code, {scope_grid!r} is not one", where="scope_grid")
        grid_id, subdistrict = grid.id, grid.subdistrict_code
    if role is Role.GRID_WORKER:
        if staff_id is None or session.execute(text("SELECT 1 FROM staff WHERE id = :s"),
                                               {"s": staff_id}).first() is None:
            raise InvalidInput("网格员账号须对应工作人员 / a grid worker's account names their staff record",
                               where="staff_id")
    if session.execute(text("SELECT 1 FROM accounts WHERE lower(username) = lower(:u)"), {"u": username}).first():
        raise Conflict(f"用户名 {username} 已存在 / the username {username} is taken", where="username")
    account_id = session.execute(text("""
        INSERT INTO accounts (username, display_name, role, subdistrict_code, scope_grid_id, staff_id, password_hash)
        VALUES (:u, :n, CAST(:r AS account_role), :sd, :g, :s, :h) RETURNING id"""),
        {"u": username, "n": display_name, "r": role.value, "sd": subdistrict, "g": grid_id, "s": staff_id,
         "h": HASHER.hash(password)}).scalar_one()
    return account(session, account_id)


def account(session: Session, account_id: int) -> dict:
    row = session.execute(text("""
        SELECT a.id, a.username, a.display_name, a.role, a.subdistrict_code AS subdistrict, g.code AS scope_grid,
               a.staff_id, a.active, a.totp_secret IS NOT NULL AS second_factor, a.locked_until
        FROM accounts a LEFT JOIN grids g ON g.id = a.scope_grid_id WHERE a.id = :id"""),
        {"id": account_id}).mappings().first()
    if row is None:
        raise NotFound(f"没有账号 {account_id} / no account {account_id}", where="account")
    return {**row, "locked_until": row["locked_until"].isoformat() if row["locked_until"] else None}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(session: Session, *, username: str, password: str, code: str | None, client_addr: str | None,
            now: datetime) -> SignedIn:
    """Check the password (and the second factor when the account has one) and open a session.
    Refusals are recorded and committed even though the caller's transaction is not."""
    settings = get_settings()
    if client_addr and recent(session, action="sign_in", client_addr=client_addr, since=now - timedelta(minutes=5),
                              succeeded=False) >= settings.sign_in_rate:
        record_now(session, actor=username[:100], action="sign_in", outcome="rate_limited", client_addr=client_addr,
                   at=now)
        raise TooManyAttempts("登录失败次数过多，请 5 分钟后再试 / too many failed sign-ins from this address: try again "
                              "in 5 minutes", where="client")
    row = session.execute(text("""SELECT id, password_hash, failed_attempts, locked_until, active, totp_secret
                                  FROM accounts WHERE lower(username) = lower(:u)"""),
                          {"u": username}).first()

    def refuse(reason: str, account_id: int | None = None):
        record_now(session, actor=username[:100], action="sign_in", outcome="refused", client_addr=client_addr,
                   object_type="account", object_id=None if account_id is None else str(account_id),
                   detail={"reason": reason}, at=now)
        raise Unauthorised("用户名或密码错误 / wrong username or password", where="credentials")

    if row is None:
        _verify(DUMMY_HASH, password)  # the same work as for a real account: no timing tells which exists
        refuse("unknown username")
    if row.locked_until is not None and row.locked_until > now:
        refuse("locked", row.id)
    if not row.active:
        refuse("inactive", row.id)
    if not _verify(row.password_hash, password):
        session.rollback()
        with session.get_bind().engine.connect() as conn:  # kept although this request fails; atomic under races
            locked = conn.execute(text("""
                UPDATE accounts SET
                    locked_until = CASE WHEN failed_attempts + 1 >= :max THEN CAST(:until AS timestamptz)
                                        ELSE locked_until END,
                    failed_attempts = CASE WHEN failed_attempts + 1 >= :max THEN 0 ELSE failed_attempts + 1 END
                WHERE id = :id RETURNING locked_until IS NOT DISTINCT FROM CAST(:until AS timestamptz)"""),
                {"max": settings.lockout_attempts, "until": now + timedelta(minutes=settings.lockout_minutes),
                 "id": row.id}).scalar()
            conn.commit()
        refuse("wrong password" + (", account locked" if locked else ""), row.id)
    if row.totp_secret is not None:
        if not code:
            refuse("second factor missing", row.id)
        if not pyotp.TOTP(keyring().open(row.totp_secret)).verify(code, for_time=now, valid_window=1):
            refuse("second factor wrong", row.id)
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=settings.session_hours)
    session.execute(text("UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE id = :id"), {"id": row.id})
    session.execute(text("""INSERT INTO auth_sessions (token_hash, account_id, created_at, expires_at, last_seen_at,
                                                       client_addr)
                            VALUES (:h, :a, :now, :exp, :now, CAST(:addr AS inet))"""),
                    {"h": digest(token), "a": row.id, "now": now, "exp": expires, "addr": client_addr})
    record(session, actor=username[:100], action="sign_in", outcome="ok", client_addr=client_addr,
           object_type="account", object_id=str(row.id), at=now)
    return SignedIn(token, expires, account(session, row.id))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def sign_out(session: Session, token: str, now: datetime) -> None:
    session.execute(text("UPDATE auth_sessions SET revoked_at = :now WHERE token_hash = :h AND revoked_at IS NULL"),
                    {"now": now, "h": digest(token)})


def create_api_key(session: Session, account_id: int, name: str, expires_at: datetime | None) -> dict:
    """A new key for an integration; the key itself is shown once, here, and never again."""
    account(session, account_id)
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = session.execute(text("""INSERT INTO api_keys (account_id, name, prefix, key_hash, expires_at)
                                     VALUES (:a, :n, :p, :h, :e) RETURNING id"""),
                             {"a": account_id, "n": name, "p": key[:10], "h": digest(key),
                              "e": expires_at}).scalar_one()
    return {"id": key_id, "name": name, "key": key, "prefix": key[:10],
            "expires_at": expires_at.isoformat() if expires_at else None}


def revoke_api_key(session: Session, key_id: int, now: datetime) -> None:
    if session.execute(text("UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL"),
                       {"now": now, "id": key_id}).rowcount != 1:
        raise NotFound(f"没有有效的密钥 {key_id} / no live API key {key_id}", where="api_key")


def start_second_factor(session: Session, account_id: int) -> dict:
    """A new TOTP secret, pending until a first code confirms the authenticator app has it."""
    secret = pyotp.random_base32()
    username = account(session, account_id)["username"]
    session.execute(text("UPDATE accounts SET totp_pending = :s WHERE id = :id"),
                    {"s": keyring().seal(secret), "id": account_id})
    return {"secret": secret, "uri": pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="gisgrid")}


def confirm_second_factor(session: Session, account_id: int, code: str, now: datetime) -> None:
    pending = session.execute(text("SELECT totp_pending FROM accounts WHERE id = :id"), {"id": account_id}).scalar()
    if pending is None:
        raise Conflict("请先申请动态口令 / start the second factor first", where="code")
    if not pyotp.TOTP(keyring().open(pending)).verify(code, for_time=now, valid_window=1):
        raise InvalidInput("动态口令不对 / the code is wrong", where="code")
    session.execute(text("UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL WHERE id = :id"),
                    {"id": account_id})


def check_password(session: Session, account_id: int, password: str) -> None:
    stored = session.execute(text("SELECT password_hash FROM accounts WHERE id = :id"), {"id": account_id}).scalar()
    if stored is None or not _verify(stored, password):
        raise Unauthorised("当前密码不对 / the current password is wrong", where="current")


def set_password(session: Session, account_id: int, password: str, now: datetime) -> None:
    username = account(session, account_id)["username"]
    check_password_strength(password, username)
    session.execute(text("UPDATE accounts SET password_hash = :h, password_changed_at = :now, failed_attempts = 0, "
                         "locked_until = NULL WHERE id = :id"), {"h": HASHER.hash(password), "now": now, "id": account_id})
    session.execute(text("UPDATE auth_sessions SET revoked_at = :now WHERE account_id = :id AND revoked_at IS NULL"),
                    {"now": now, "id": account_id})
