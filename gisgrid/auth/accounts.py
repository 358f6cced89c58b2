"""Managing accounts: create one with its scope, list them, disable, enable, reset a password.

The ``gisgrid accounts`` command and the administrators' HTTP twins both call these; it is how
a real installation gets its first administrator (no account exists until someone creates one).

Choices
    * A role is named by its value (``admin``) or its Chinese label (``街道管理员``).
    * Scope by role: an administrator, viewer or auditor has ``subdistrict`` or, without it, the
      whole city; a community manager ``grid`` = an L1 code; a grid worker is a staff member,
      ``staff_phone`` or ``grid`` (that grid's lead), bound to the sub-district of their grids.
      ``staff_phone`` may link an account of another role to its staff record too.
    * ``within``: the managing administrator's sub-district (None: a city-wide administrator or
      the command line). They see and change only the accounts bound to it (others are 404, as
      if absent), and the accounts they create are bound to it (by default, and refused elsewhere).
    * Disabling ends every session of the account; its API keys stay but open nothing while the
      account is disabled (``gisgrid_principal`` refuses a key of an inactive account) and work
      again once it is enabled, so a suspended integration needs no new keys. A password reset
      ends every session too (``set_password``) and leaves the keys, which do not derive from the
      password: revoke a leaked key with ``DELETE /auth/api-keys/{id}``.
    * ``zone``: a community manager's L1 code (None: no such limit). A manager manages the grid
      workers' accounts of their zone only: accounts of staff who hold or held a role on a grid
      in it (a released worker's account can still be disabled); others are 404. They create
      grid workers' accounts only (403 for any other role), for staff of their zone.
    * Enabling also lifts a lockout. Nobody disables their own account.
    * Every change writes an audit row in the same transaction; none returns a password hash.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.auth.service import create_account, set_password
from gisgrid.core.enums import Role
from gisgrid.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gisgrid.core.paging import JsonPage, Page, json_page
from gisgrid.core.phones import phone_key, phone_key_sql

USERNAME = re.compile(r"[\w.@-]{2,50}")
ROLE_NAMES = "、".join(f"{r.value}（{r.label_zh}）" for r in Role)

SUMMARY = """
    SELECT a.username, a.display_name, a.role, a.subdistrict_code AS subdistrict, g.code AS community,
           (SELECT array_agg(DISTINCT w.code ORDER BY w.code) FROM grid_assignments wa JOIN grids w ON w.id = wa.grid_id
            WHERE a.role = 'grid_worker' AND wa.staff_id = a.staff_id AND w.retired_at IS NULL) AS grids,
           s.name AS staff_name, s.phone AS staff_phone, a.active,
           a.locked_until IS NOT NULL AND a.locked_until > :now AS locked,
           (SELECT max(x.created_at) FROM auth_sessions x WHERE x.account_id = a.id) AS last_sign_in
    FROM accounts a LEFT JOIN grids g ON g.id = a.scope_grid_id LEFT JOIN staff s ON s.id = a.staff_id
"""


def parse_role(value: str) -> Role:
    """A role by its value or its Chinese label."""
    for role in Role:
        if value.strip().casefold() in (role.value, role.label_zh):
            return role
    raise InvalidInput(f"未知角色 {value!r}，可选：{ROLE_NAMES} / unknown role {value!r}; roles: "
                       f"{', '.join(r.value for r in Role)}", where="role")


def accounts(session: Session, *, within: str | None, page: Page, now: datetime, zone: str | None = None) -> JsonPage:
    """Username, role, scope, staff, active, locked and last sign-in of every account ``within``
    (and ``zone``) manages."""
    return json_page(session, rows_sql=f"{SUMMARY} WHERE {_within('a')} ORDER BY lower(a.username)",
                     count_sql=f"SELECT count(*) FROM accounts a WHERE {_within('a')}",
                     params={"within": within, "zone": zone, "now": now}, page=page)


def create(session: Session, *, username: str, role: Role, password: str, subdistrict: str | None = None,
           grid: str | None = None, staff_phone: str | None = None, display_name: str | None = None,
           within: str | None, actor: str, client_addr: str | None = None, now: datetime,
           zone: str | None = None) -> dict:
    """A new account with its scope (see the module's choices), checked against the password policy."""
    if zone is not None and role is not Role.GRID_WORKER:
        raise Forbidden(f"社区管理员只能新建网格员账号 / a community manager creates grid workers' accounts only, "
                        f"not {role.value}", where="role")
    if not USERNAME.fullmatch(username):
        raise InvalidInput(f"用户名应为 2–50 个字母、数字或 _ . @ - / a username is 2 to 50 letters, digits or "
                           f"_ . @ -, got {username!r}", where="username")
    if subdistrict is not None and grid is not None:
        raise InvalidInput("--subdistrict 与 --grid 只能给一个 / give --subdistrict or --grid, not both",
                           where="grid")
    staff = _staff(session, staff_phone) if staff_phone is not None else None
    scope_grid = None
    if role is Role.COMMUNITY_MANAGER:
        if grid is None:
            raise InvalidInput("社区管理员须用 --grid 指定一级网格 / a community manager needs --grid with an L1 "
                               "code", where="grid")
        scope_grid = grid
        subdistrict = _grid(session, grid, level=1)["subdistrict_code"]
    elif role is Role.GRID_WORKER:
        if staff is None and grid is None:
            raise InvalidInput("网格员须用 --staff 电话 或 --grid 网格（其网格长）指定工作人员 / a grid worker is a "
                               "staff member: give --staff PHONE, or --grid CODE for that grid's lead", where="staff")
        if staff is not None and grid is not None:
            raise InvalidInput("网格员用 --staff 或 --grid 之一 / a grid worker takes --staff or --grid, not both",
                               where="grid")
        staff = staff or _lead(session, _grid(session, grid))
        if zone is not None:
            _staff_in_zone(session, staff, zone)
        subdistrict = _worker_subdistrict(session, staff)
    elif grid is not None:
        raise InvalidInput(f"“{role.label_zh}”的范围是街道，请用 --subdistrict / the {role.value} role's scope is "
                           "a sub-district: use --subdistrict", where="grid")
    subdistrict = _bound(session, subdistrict, within)
    made = create_account(session, username=username, display_name=display_name or (staff or {}).get("name")
                          or username, role=role, password=password, subdistrict=subdistrict,
                          scope_grid=scope_grid, staff_id=(staff or {}).get("id"))
    record(session, actor=actor, action="account_create", outcome="ok", object_type="account",
           object_id=username, client_addr=client_addr,
           detail={"role": role.value, "subdistrict": subdistrict, "grid": scope_grid,
                   "staff_id": (staff or {}).get("id"), "account_id": made["id"]})
    return summary(session, username, within=within, zone=zone, now=now)


def summary(session: Session, username: str, *, within: str | None, now: datetime, zone: str | None = None) -> dict:
    """One account as :func:`accounts` lists it; 404 for one ``within`` (and ``zone``) does not manage."""
    row = session.execute(text(f"{SUMMARY} WHERE lower(a.username) = lower(:u) AND {_within('a')}"),
                          {"u": username, "within": within, "zone": zone, "now": now}).mappings().first()
    if row is None:
        raise NotFound(f"没有账号 {username} / no account {username}", where="username")
    return dict(row)


def disable(session: Session, username: str, *, within: str | None, actor: str, client_addr: str | None = None,
            now: datetime, own: str | None = None, zone: str | None = None) -> dict:
    """The account can no longer sign in, its sessions end; ``own`` (the caller's username) is refused."""
    account_id = _account_id(session, username, within, zone)
    if own is not None and own.lower() == username.lower():
        raise Conflict("不能停用自己的账号 / you cannot disable your own account", where="username")
    session.execute(text("UPDATE accounts SET active = false WHERE id = :id"), {"id": account_id})
    ended = _end_sessions(session, account_id, now)
    record(session, actor=actor, action="account_disable", outcome="ok", object_type="account", object_id=username,
           client_addr=client_addr, detail={"account_id": account_id, "sessions_ended": ended})
    return summary(session, username, within=within, zone=zone, now=now)


def enable(session: Session, username: str, *, within: str | None, actor: str, client_addr: str | None = None,
           now: datetime, zone: str | None = None) -> dict:
    """The account may sign in again (a lockout lifted too)."""
    account_id = _account_id(session, username, within, zone)
    session.execute(text("UPDATE accounts SET active = true, failed_attempts = 0, locked_until = NULL WHERE id = :id"),
                    {"id": account_id})
    record(session, actor=actor, action="account_enable", outcome="ok", object_type="account", object_id=username,
           client_addr=client_addr, detail={"account_id": account_id})
    return summary(session, username, within=within, zone=zone, now=now)


def reset_password(session: Session, username: str, password: str, *, within: str | None, actor: str,
                   client_addr: str | None = None, now: datetime, zone: str | None = None) -> dict:
    """A new password under the policy; every session of the account ends."""
    account_id = _account_id(session, username, within, zone)
    set_password(session, account_id, password, now)
    record(session, actor=actor, action="account_reset_password", outcome="ok", object_type="account",
           object_id=username, client_addr=client_addr, detail={"account_id": account_id})
    return summary(session, username, within=within, zone=zone, now=now)


def _within(alias: str) -> str:
    """Accounts of the managing administrator's sub-district and, for a community manager, the
    grid workers of their zone (their staff hold or held a role on a grid in it)."""
    return (f"(CAST(:within AS text) IS NULL OR {alias}.subdistrict_code = :within) "
            f"AND (CAST(:zone AS text) IS NULL OR ({alias}.role = 'grid_worker' AND EXISTS ("
            f"SELECT 1 FROM all_grid_assignments za JOIN grids zg ON zg.id = za.grid_id "
            f"WHERE za.staff_id = {alias}.staff_id AND starts_with(zg.code, :zone))))")


def _account_id(session: Session, username: str, within: str | None, zone: str | None = None) -> int:
    found = session.execute(text(f"SELECT id FROM accounts a WHERE lower(username) = lower(:u) AND {_within('a')}"),
                            {"u": username, "within": within, "zone": zone}).scalar()
    if found is None:
        raise NotFound(f"没有账号 {username} / no account {username}", where="username")
    return found


def _end_sessions(session: Session, account_id: int, now: datetime) -> int:
    return session.execute(text("UPDATE auth_sessions SET revoked_at = :now WHERE account_id = :id "
                                "AND revoked_at IS NULL"), {"now": now, "id": account_id}).rowcount


def _bound(session: Session, subdistrict: str | None, within: str | None) -> str | None:
    """The new account's sub-district, which must exist and lie within the managing administrator's."""
    subdistrict = subdistrict if subdistrict is not None else within
    if subdistrict is None:
        return None
    exists = session.execute(text("SELECT 1 FROM subdistricts WHERE code = :c"), {"c": subdistrict}).first()
    if exists is None or (within is not None and subdistrict != within):
        raise NotFound(f"没有街道 {subdistrict} / no sub-district {subdistrict}", where="subdistrict")
    return subdistrict


def _grid(session: Session, code: str, level: int | None = None) -> dict:
    grid = session.execute(text("SELECT id, code, level, subdistrict_code FROM grids WHERE code = :c "
                                "AND retired_at IS NULL"), {"c": code}).mappings().first()
    if grid is None:
        raise InvalidInput(f"没有编码为 {code} 的在用网格 / no active grid with code {code}", where="grid")
    if level is not None and grid["level"] != level:
        raise InvalidInput(f"社区管理员须指定一级网格，{code} 是{grid['level']}级 / a community manager needs an L1 "
                           f"grid, {code} is level {grid['level']}", where="grid")
    return dict(grid)


def _staff(session: Session, phone: str) -> dict:
    key = phone_key(phone)
    found = session.execute(text(f"SELECT id, name FROM staff WHERE {phone_key_sql('phone')} = :k ORDER BY id"),
                            {"k": key}).mappings().all()
    if not found:
        raise InvalidInput(f"没有电话为 {phone} 的工作人员（请先导入工作人员）/ no staff member with phone {phone} "
                           "(import the staff first)", where="staff")
    if len(found) > 1:
        listed = ", ".join(f"#{r['id']} {r['name']}" for r in found)
        raise InvalidInput(f"电话 {phone} 对应多名工作人员（{listed}）/ the phone {phone} belongs to {len(found)} staff "
                           f"records ({listed})", where="staff")
    return dict(found[0])


def _lead(session: Session, grid: dict) -> dict:
    lead = session.execute(text("SELECT s.id, s.name FROM grid_assignments a JOIN staff s ON s.id = a.staff_id "
                                "WHERE a.grid_id = :g AND a.role = 'grid_lead'"), {"g": grid["id"]}).mappings().first()
    if lead is None:
        raise InvalidInput(f"网格 {grid['code']} 没有网格长，请用 --staff 电话 / grid {grid['code']} has no lead: "
                           "give --staff PHONE", where="grid")
    return dict(lead)


def _staff_in_zone(session: Session, staff: dict, zone: str) -> None:
    """A community manager's new worker account is for a person on a grid of their zone (404 otherwise)."""
    found = session.execute(text("SELECT 1 FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                                 "WHERE a.staff_id = :s AND starts_with(g.code, :zone)"),
                            {"s": staff["id"], "zone": zone}).first()
    if found is None:
        raise NotFound(f"你的社区内没有工作人员 {staff['name']} / no staff member {staff['name']} on a grid of your "
                       "community", where="staff")


def _worker_subdistrict(session: Session, staff: dict) -> str | None:
    """The one sub-district of a staff member's grids (None when they span several); a staff
    member on no grid would see nothing, and is refused."""
    found = session.execute(text("SELECT DISTINCT g.subdistrict_code FROM grid_assignments a JOIN grids g "
                                 "ON g.id = a.grid_id WHERE a.staff_id = :s AND g.retired_at IS NULL"),
                            {"s": staff["id"]}).scalars().all()
    if not found:
        raise InvalidInput(f"工作人员 {staff['name']} 没有分配网格 / staff member {staff['name']} is on no grid: "
                           "import their assignments first", where="staff")
    return found[0] if len(found) == 1 else None
