"""What each role may do, and where: the caller as a ``Principal`` whose scope turns into SQL.

Functions (403 when the role lacks them): ``maps`` (maps, layers, aggregates — no persons),
``people`` (households, residents, the ledger, diagrams), ``cases`` (reading and handling
cases), ``fieldwork`` (visits, training), ``reports`` (weekly summary, assessment), ``edit``
(grid boundaries, categories), ``admin`` (API keys, reveals, person exports) and ``audit``.
Objects outside the caller's scope are 404, as if they did not exist.

Scopes: an administrator's sub-district (none: every sub-district), a community manager's L1
zone, a grid worker's own L2 grids (those their staff record is assigned to, directly or through
one of their L3 grids), and for viewers and auditors their sub-district.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth import service
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import Role
from gisgrid.core.errors import Forbidden, NotFound, Unauthorised

FUNCTIONS = ("maps", "people", "cases", "fieldwork", "reports", "edit", "admin", "audit")
CAN: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(FUNCTIONS) - {"audit"},
    Role.COMMUNITY_MANAGER: frozenset({"maps", "people", "cases", "fieldwork", "reports", "edit"}),
    Role.GRID_WORKER: frozenset({"maps", "people", "cases", "fieldwork"}),
    Role.VIEWER: frozenset({"maps", "reports"}),
    Role.AUDITOR: frozenset({"audit"}),
}


@dataclass(frozen=True)
class Principal:
    account_id: int
    username: str
    role: Role
    subdistrict: str | None          # None with an administrator: every sub-district
    community: tuple[int, str] | None = None  # (id, code) of a manager's L1 zone
    grids: tuple[int, ...] = field(default=())  # a worker's L2 grid ids

    def can(self, function: str) -> bool:
        return function in CAN[self.role]

    def rows(self, alias: str) -> tuple[str, dict]:
        """A condition on a table carrying ``subdistrict_code`` and ``grid_l1_id``/``grid_l2_id``
        (buildings, units, shops, cases, visits)."""
        if self.role is Role.GRID_WORKER:
            return f"{alias}.grid_l2_id = ANY(:scope_grids)", {"scope_grids": list(self.grids)}
        if self.community is not None:
            return f"{alias}.grid_l1_id = :scope_l1", {"scope_l1": self.community[0]}
        if self.subdistrict is None:
            return "true", {}
        return f"{alias}.subdistrict_code = :scope_sd", {"scope_sd": self.subdistrict}

    def grid_codes(self, alias: str) -> tuple[str, dict]:
        """A condition on grids: a worker sees their grids and the grids above and below them."""
        if self.role is Role.GRID_WORKER:
            return (f"EXISTS (SELECT 1 FROM grids mine WHERE mine.id = ANY(:scope_grids) AND "
                    f"(starts_with({alias}.code, mine.code) OR starts_with(mine.code, {alias}.code)))",
                    {"scope_grids": list(self.grids)})
        if self.community is not None:
            return (f"(starts_with({alias}.code, :scope_l1_code) OR starts_with(:scope_l1_code, {alias}.code))",
                    {"scope_l1_code": self.community[1]})
        if self.subdistrict is None:
            return "true", {}
        return f"{alias}.subdistrict_code = :scope_sd", {"scope_sd": self.subdistrict}


def principal_of(session: Session, account: dict) -> Principal:
    role = Role(account["role"])
    community = grids = None
    if role is Role.COMMUNITY_MANAGER:
        community = tuple(session.execute(text("SELECT id, code FROM grids WHERE code = :c"),
                                          {"c": account["scope_grid"]}).one())
    if role is Role.GRID_WORKER:
        grids = tuple(session.execute(text("""
            SELECT DISTINCT CASE WHEN g.level = 2 THEN g.id ELSE p.id END
            FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
            LEFT JOIN grids p ON p.code = g.parent_code
            WHERE a.staff_id = :s AND g.level IN (2, 3) AND g.retired_at IS NULL"""),
            {"s": account["staff_id"]}).scalars())
    return Principal(account["id"], account["username"], role, account["subdistrict"], community, grids or ())


def caller(request: Request, clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> Principal:
    """The signed-in caller (a session token or an API key, as a bearer header or the cookie)."""
    from gisgrid.auth.routes import token_of

    token = token_of(request)
    account = service.account_for_token(session, token, clock.now()) if token else None
    if account is None:
        raise Unauthorised("请先登录 / sign in first", where="authorization")
    session.commit()  # last seen
    return principal_of(session, account)


@cache
def needs(function: str):
    """A dependency: the caller, who must be signed in (401) and whose role has ``function`` (403).
    One function object per name, so a route that also takes the principal checks it once."""
    assert function in FUNCTIONS, function

    def check(principal: Principal = Depends(caller)) -> Principal:
        if not principal.can(function):
            raise Forbidden(f"“{principal.role.label_zh}”角色无此权限 / the {principal.role.value} role may not "
                            f"use this ({function})", where="role")
        return principal

    check.__name__ = f"needs_{function}"
    return check


def grid_in_scope(session: Session, principal: Principal, code: str) -> None:
    """A grid outside the caller's scope does not exist for them: 404, as for an unknown code
    (a malformed code is still 422, as for anyone)."""
    from gisgrid.grids.service import grid_by_code

    grid_by_code(session, code)
    condition, params = principal.grid_codes("g")
    if session.execute(text(f"SELECT 1 FROM grids g WHERE g.code = :code AND {condition}"),
                       {"code": code, **params}).first() is None:
        raise NotFound(f"没有网格 {code} / no grid {code}", where="code")
