"""What each role may do, and where: the caller as a ``Principal`` whose scope turns into SQL.

Functions (403 when the role lacks them): ``maps`` (maps, layers, aggregates — no persons),
``people`` (households, residents, the ledger, diagrams), ``cases`` (reading and handling
cases), ``fieldwork`` (visits, training), ``reports`` (weekly summary, assessment), ``edit``
(grid boundaries, categories), ``teams`` (staff, their roles on grids, staff accounts), ``admin``
(API keys, reveals, person exports) and ``audit``.
Objects outside the caller's scope are 404, as if they did not exist.

Scopes: an administrator's sub-district (none: every sub-district), a community manager's L1
zone, a grid worker's own L2 grids (those their staff record is assigned to, directly or through
one of their L3 grids), and for viewers and auditors their sub-district.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth import service
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import Actor, get_session
from gisgrid.core.enums import Role
from gisgrid.core.errors import Forbidden, InvalidInput, NotFound, Unauthorised
from gisgrid.core.scope import Scope

FUNCTIONS = ("maps", "people", "cases", "fieldwork", "reports", "edit", "teams", "admin", "audit")
CAN: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(FUNCTIONS) - {"audit"},
    Role.COMMUNITY_MANAGER: frozenset({"maps", "people", "cases", "fieldwork", "reports", "edit", "teams"}),
    Role.GRID_WORKER: frozenset({"maps", "people", "cases", "fieldwork"}),
    Role.VIEWER: frozenset({"maps", "reports"}),
    Role.AUDITOR: frozenset({"audit"}),
}


@dataclass(frozen=True)
class Principal:
    """The caller, as ``gisgrid_principal`` (migration 0012) resolves them; ``scope_key`` names
    the scope (``all``, ``sd:<code>``, ``l1:<id>``, ``w:<grid ids>``) and keys cached tiles."""

    account_id: int
    username: str
    role: Role
    subdistrict: str | None          # None with a city-wide account: every sub-district
    community: tuple[int, str] | None = None  # (id, code) of a manager's L1 zone
    grids: tuple[int, ...] | None = None      # a worker's L2 grid ids
    grid_codes_: tuple[str, ...] | None = None  # and their codes
    scope_key: str = "all"
    staff_id: int | None = None               # the staff record of an account that is staff

    @classmethod
    def from_row(cls, row) -> Principal:
        account_id, username, role, subdistrict, l1_id, l1_code, grid_ids, grid_codes, scope_key, staff_id = row
        return cls(account_id, username, Role(role), subdistrict, (l1_id, l1_code) if l1_id is not None else None,
                   None if grid_ids is None else tuple(grid_ids), None if grid_codes is None else tuple(grid_codes),
                   scope_key, staff_id)

    def can(self, function: str) -> bool:
        return function in CAN[self.role]

    @property
    def scope(self) -> Scope:
        """Where this caller may look: what every reading service requires."""
        return Scope(self.subdistrict, self.community, self.grids, self.grid_codes_)

    def scope_params(self) -> dict:
        """The scope as the bound parameters of ``gisgrid_rows_in_scope``/``gisgrid_code_in_scope``."""
        return self.scope.params()

    def sees_code(self, code: str) -> bool:
        """``gisgrid_code_in_scope`` in Python, for results already in hand."""
        if self.subdistrict is not None and not code.startswith(self.subdistrict):
            return False
        if self.community is not None and not (code.startswith(self.community[1]) or self.community[1].startswith(code)):
            return False
        return self.grid_codes_ is None or any(code.startswith(m) or m.startswith(code) for m in self.grid_codes_)

    def narrow(self, subdistrict: str | None, community: str | None) -> tuple[str | None, str | None]:
        """A requested sub-district and community narrowed to the caller's scope: the caller's own
        by default, 404 for one outside it. A grid worker's community is the one of their grids."""
        for code, what in ((subdistrict, "sub-district"), (community, "community")):
            if code is not None and not self.sees_code(code):
                raise NotFound(f"没有 {code} / no {what} {code}", where=what.replace("-", ""))
        if self.community is not None:
            community = self.community[1]
        elif self.grid_codes_ is not None:
            mine = sorted({c[:12] for c in self.grid_codes_})
            if not mine:
                raise NotFound("没有分配网格 / no grid is assigned to this account", where="scope")
            community = community if community in mine else mine[0]
        return subdistrict or self.subdistrict, community

    @classmethod
    def of_subdistrict(cls, code: str) -> Principal:
        """What anyone, signed in or not, may see of a sub-district: its outline (the public form)."""
        return cls(0, "public", Role.VIEWER, code, scope_key=f"sd:{code}")


COOKIE = "gisgrid_session"
PRINCIPAL_SQL = "SELECT * FROM gisgrid_principal(%s, %s, %s)"
SIGN_IN_FIRST = "请先登录 / sign in first"


def principal_for_token(session: Session, token: str, now: datetime) -> Principal | None:
    """The caller a session token or API key stands for, or None (expired, revoked, unknown)."""
    row = session.execute(text("SELECT * FROM gisgrid_principal(:h, :k, :now)"),
                          {"h": service.digest(token), "k": token.startswith(service.API_KEY_PREFIX),
                           "now": now}).first()
    return None if row is None else Principal.from_row(row)


def caller(request: Request, clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> Principal:
    """The signed-in caller (a session token or an API key, as a bearer header or the cookie)."""
    token = token_of(request)
    principal = principal_for_token(session, token, clock.now()) if token else None
    session.commit()  # last seen, at most once a minute
    if principal is None:
        raise Unauthorised(SIGN_IN_FIRST, where="authorization")
    request.state.principal = principal
    return principal


class RecentCallers:
    """Callers resolved in the last ``TTL`` seconds, by token digest, for the async hot paths: a
    map view asks for dozens of tiles at once, and resolving the caller for each would cost more
    than serving a cached tile. A signed-out token is dropped here at once; a key revoked or a
    role changed elsewhere takes effect on tiles and lookups within ``TTL`` seconds (every other
    route asks the database each time)."""

    TTL = 2.0
    LIMIT = 10_000

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        hit = self._seen.get(digest)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, digest: str, principal: Principal) -> None:
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        self._seen[digest] = (time.monotonic() + self.TTL, principal)

    def forget(self, digest: str) -> None:
        self._seen.pop(digest, None)


async def caller_async(request: Request) -> Principal:
    """:func:`caller` for the async hot paths (tiles, point lookups): one prepared statement on
    the app's async pool at most every :attr:`RecentCallers.TTL` seconds per caller, and no
    worker-thread hop (the clock is read here, not through the sync dependency)."""
    token = token_of(request)
    principal = None
    if token:
        digest = service.digest(token)
        recent: RecentCallers = request.app.state.recent_callers
        principal = recent.get(digest)
        if principal is None:
            async with request.app.state.pool.connection() as conn:
                cursor = await conn.execute(PRINCIPAL_SQL, (digest, token.startswith(service.API_KEY_PREFIX),
                                                            request.app.state.clock.now()), prepare=True)
                row = await cursor.fetchone()
            if row is not None:
                principal = Principal.from_row(row)
                recent.put(digest, principal)
    if principal is None:
        raise Unauthorised(SIGN_IN_FIRST, where="authorization")
    request.state.principal = principal
    return principal


def get_actor(
    principal: Principal = Depends(caller),
    x_actor: str | None = Header(None, description="for an administrator's integration: the person it acts for, "
                                 "percent-encoded UTF-8 (others act under their own account)"),
    x_staff_id: int | None = Header(None, ge=1, le=2_147_483_647, description="for an administrator's integration: "
                                    "the staff member it acts for (others act as their own staff record)"),
    session: Session = Depends(get_session),
) -> Actor:
    """Who acts on a case: the signed-in account and its staff record. Only an administrator's
    integration (a hotline system, say) may name someone else, for the per-worker figures."""
    if principal.role is not Role.ADMIN:
        return Actor(principal.username, principal.staff_id, principal.role.value)
    name = unquote(x_actor)[:100] if x_actor else principal.username
    if "\x00" in name or not name.strip():
        raise InvalidInput("X-Actor 不能为空或含 NUL 字符 / X-Actor must be a name without NUL characters",
                           where="X-Actor")
    if x_staff_id is not None and session.execute(text("SELECT 1 FROM staff WHERE id = :id"),
                                                  {"id": x_staff_id}).first() is None:
        raise InvalidInput(f"没有工作人员 {x_staff_id} / no staff member {x_staff_id}", where="X-Staff-Id")
    return Actor(name, x_staff_id if x_staff_id is not None else principal.staff_id, principal.role.value)


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE)


def _refuse(principal: Principal, function: str) -> None:
    if not principal.can(function):
        raise Forbidden(f"“{principal.role.label_zh}”角色无此权限 / the {principal.role.value} role may not "
                        f"use this ({function})", where="role")


@cache
def needs(function: str):
    """A dependency: the caller, who must be signed in (401) and whose role has ``function`` (403).
    One function object per name, so a route that also takes the principal checks it once."""
    assert function in FUNCTIONS, function

    def check(principal: Principal = Depends(caller)) -> Principal:
        _refuse(principal, function)
        return principal

    check.__name__ = f"needs_{function}"
    return check


@cache
def needs_async(function: str):
    """:func:`needs` for async routes, resolving the caller with :func:`caller_async`."""
    assert function in FUNCTIONS, function

    async def check(principal: Principal = Depends(caller_async)) -> Principal:
        _refuse(principal, function)
        return principal

    check.__name__ = f"needs_{function}_async"
    return check
