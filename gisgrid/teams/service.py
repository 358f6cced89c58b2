"""Who answers for which grid (组团队): staff records, their roles on grids, one lead per grid.

Staff and grid assignments are ledger records (:mod:`gisgrid.ledger.records`): every change
names its version, keeps the replaced one, writes an audit row, and nothing is deleted: an
assignment ends (released, reassigned) with a day and a reason. The rules beside that:

* One lead (网格长) per grid. Naming a new lead ends the previous lead's assignment
  (``reassigned``) in the same transaction; writers on one grid queue on a transaction lock
  of that grid, so two managers naming leads at once get one lead, never two or an error.
* A person is in a caller's scope through the grids they hold or held a role on; a community
  manager registers a person together with their first role in the zone (a person on no grid
  is the administrators').
* Releasing a person ends their current roles on the caller's grids (a role elsewhere is not
  the caller's to end) and answers the grids it left without a lead.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.enums import StaffRole
from gisgrid.core.errors import Conflict, InvalidInput, NotFound
from gisgrid.core.paging import Page, counted_page
from gisgrid.core.phones import phone_key, phone_key_sql
from gisgrid.core.scope import Scope
from gisgrid.ledger import records
from gisgrid.ledger.kinds import KINDS, staff_condition
from gisgrid.ledger.records import Editor
from gisgrid.registry.idnumbers import BadValue, parse_phone

STAFF, ASSIGNMENTS = KINDS["staff"], KINDS["grid_assignments"]
STAFF_FIELDS = ("name", "sex", "phone", "title", "party_member", "active")
LEAD = StaffRole.GRID_LEAD.value

ROLES_SQL = """
SELECT coalesce(json_agg(json_build_object('id', a.id, 'grid_code', g.code, 'grid_name', g.name, 'level', g.level,
                                           'role', a.role, 'version', a.version) ORDER BY g.code, a.role), '[]')
FROM grid_assignments a JOIN grids g ON g.id = a.grid_id WHERE a.staff_id = r.id AND {condition}"""

WITHOUT_LEAD = """
SELECT g.code, g.name, g.level FROM grids g
WHERE g.retired_at IS NULL AND {condition} {narrow}
  AND NOT EXISTS (SELECT 1 FROM grid_leads l WHERE l.grid_id = g.id AND l.active)
ORDER BY g.code"""


def roles() -> list[dict[str, str]]:
    """The roles a person may hold on a grid, with their Chinese names."""
    return [{"value": r.value, "label_zh": r.label_zh} for r in StaffRole]


def team(session: Session, scope: Scope, *, grid: str | None, page: Page) -> dict[str, Any]:
    """A page of the people of the caller's scope (narrowed to a grid and its children) with
    their current roles on its grids, and every grid there without an active lead."""
    condition, params = staff_condition(scope)
    grids, grid_params = scope.codes("g.code")
    narrow = "AND starts_with(g.code, :prefix)" if grid else ""
    params = {**params, **grid_params, "prefix": grid}
    in_grid = (f"AND EXISTS (SELECT 1 FROM all_grid_assignments na JOIN grids g ON g.id = na.grid_id "
               f"WHERE na.staff_id = r.id {narrow})") if grid else ""
    matched, people = counted_page(session, count_sql=f"SELECT count(*) FROM staff r WHERE {condition} {in_grid}",
                                   rows_sql=f"""
        SELECT r.id, r.name, r.sex, r.phone, r.title, r.party_member, r.active, r.version, r.ended_on,
               ({ROLES_SQL.format(condition=grids)}) AS assignments
        FROM staff r WHERE {condition} {in_grid} ORDER BY r.ended_on IS NOT NULL, r.name, r.id""",
                                   params=params, page=page)
    staff = []
    for person in people.mappings():
        person = dict(person)
        for role in person["assignments"]:
            role["role_label"] = StaffRole(role["role"]).label_zh
        staff.append(person)
    return {"numberMatched": matched, "numberReturned": len(staff), "staff": staff,
            "without_lead": without_lead(session, scope, grid=grid), "roles": roles()}


def without_lead(session: Session, scope: Scope, *, grid: str | None = None, codes: list[str] | None = None) -> list[dict]:
    """Current grids of ``scope`` (under ``grid``, or among ``codes``) with no active lead."""
    condition, params = scope.codes("g.code")
    narrow = "AND starts_with(g.code, :prefix)" if grid else ""
    if codes is not None:
        narrow += " AND g.code = ANY(:codes)"
    rows = session.execute(text(WITHOUT_LEAD.format(condition=condition, narrow=narrow)),
                           {**params, "prefix": grid, "codes": codes}).mappings()
    return [dict(r) for r in rows]


def grid_choices(session: Session, scope: Scope, *, grid: str | None, limit: int) -> list[dict]:
    """The current grids of ``scope`` (under ``grid``) a form may name, in code order."""
    condition, params = scope.codes("g.code")
    return [dict(r) for r in session.execute(text(f"""
        SELECT g.code, g.name, g.level FROM grids g WHERE g.retired_at IS NULL AND {condition}
        AND (CAST(:prefix AS text) IS NULL OR starts_with(g.code, :prefix)) ORDER BY g.code LIMIT :limit"""),
        {**params, "prefix": grid, "limit": limit}).mappings()]


def create_staff(session: Session, editor: Editor, fields: dict, *, grid: str | None, role: StaffRole | None,
                 reason: str, today: date) -> dict:
    """A new person; with ``grid`` and ``role``, their first role there in the same transaction.
    A caller bound to a community or to grids must give one (the person must land in their scope)."""
    bound = editor.scope.community is not None or editor.scope.grids is not None
    if (grid is None) != (role is None):
        raise InvalidInput("网格与职责须同时给出 / give the grid and the role together", where="grid" if grid is None
                           else "role")
    if grid is None and bound:
        raise InvalidInput("请指定此人在你社区内的网格与职责 / name the grid of your community and the role this "
                           "person takes there", where="grid")
    place = _grid(session, editor.scope, grid) if grid is not None else None
    values = _staff_values(session, fields, own=None)
    staff_id = records.write(session, STAFF, editor, record_id=None, values=values, expected=None, reason=reason,
                             operation="create")
    if place is not None:
        _assign(session, editor, staff_id, place, role, reason=reason, today=today)
    return records.read(session, STAFF, staff_id, editor.scope)


def change_staff(session: Session, editor: Editor, staff_id: int, fields: dict, *, expected: int | None,
                 reason: str) -> dict:
    """A person's name, phone, title, party membership or ``active`` changed in place."""
    values = _staff_values(session, fields, own=staff_id)
    if not values:
        raise InvalidInput("没有要修改的字段 / no field to change", where="body")
    records.write(session, STAFF, editor, record_id=staff_id, values=values, expected=expected, reason=reason,
                  operation="update")
    return records.read(session, STAFF, staff_id, editor.scope)


def assign(session: Session, editor: Editor, *, staff_id: int, grid: str, role: StaffRole, reason: str,
           today: date) -> dict:
    """``role`` on ``grid`` for a person of the caller's scope; a new lead replaces the old one."""
    place = _grid(session, editor.scope, grid)
    person = records.read(session, STAFF, staff_id, editor.scope)
    if person["ended_on"] is not None or not person["active"]:
        raise Conflict(f"工作人员 {person['name']} 已离职或停用 / staff member {person['name']} has left or is "
                       "inactive", where="staff_id")
    return _assign(session, editor, staff_id, place, role, reason=reason, today=today)


def _assign(session: Session, editor: Editor, staff_id: int, place: dict, role: StaffRole, *, reason: str,
            today: date) -> dict:
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gisgrid.team'), :g)"), {"g": place["id"]})
    held = session.execute(text("SELECT id FROM grid_assignments WHERE staff_id = :s AND grid_id = :g AND role = :r"),
                           {"s": staff_id, "g": place["id"], "r": role.value}).scalar()
    if held is not None:
        raise Conflict(f"此人已是 {place['code']} 的{role.label_zh}（记录 {held}）/ this person already holds the "
                       f"{role.value} role on {place['code']} ({held})", where="role", assignment_id=held)
    replaced = None
    if role is StaffRole.GRID_LEAD:
        old = session.execute(text("SELECT id, version FROM grid_assignments WHERE grid_id = :g AND role = :lead"),
                              {"g": place["id"], "lead": LEAD}).first()
        if old is not None:
            replaced = records.end(session, ASSIGNMENTS, editor, old.id, expected=old.version, on=today,
                                   end_reason="reassigned", reason=reason)
    made = records.write(session, ASSIGNMENTS, editor, record_id=None, expected=None, reason=reason,
                         operation="create", values={"staff_id": (":staff_id", {"staff_id": staff_id}),
                                                     "grid_id": (":grid_id", {"grid_id": place["id"]}),
                                                     "role": (":role", {"role": role.value})})
    return {**records.read(session, ASSIGNMENTS, made, editor.scope), "replaced": replaced}


def end_assignment(session: Session, editor: Editor, assignment_id: int, *, expected: int | None, on: date,
                   end_reason: str, reason: str) -> dict:
    """One role ends; when it was the lead's, the answer's ``without_lead`` holds its grid."""
    ended = records.end(session, ASSIGNMENTS, editor, assignment_id, expected=expected, on=on,
                        end_reason=end_reason, reason=reason)
    left = without_lead(session, editor.scope, codes=[ended["grid_code"]]) if ended["role"] == LEAD else []
    return {**ended, "without_lead": left}


def release(session: Session, editor: Editor, staff_id: int, *, on: date, reason: str) -> dict:
    """Every current role of the person on the caller's grids ends (``released``); the answer
    lists what ended and the grids it left without a lead."""
    person = records.read(session, STAFF, staff_id, editor.scope, lock=True)
    condition, params = editor.scope.codes("g.code")
    held = session.execute(text(f"""
        SELECT a.id, a.version, g.id AS grid_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
        WHERE a.staff_id = :s AND {condition} ORDER BY g.id, a.id"""), {**params, "s": staff_id}).all()
    if not held:
        raise Conflict(f"{person['name']} 在你的网格内没有现任职责 / {person['name']} holds no current role on your "
                       "grids", where="staff_id")
    ended = []
    for grid_id in sorted({row.grid_id for row in held}):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gisgrid.team'), :g)"), {"g": grid_id})
    for row in held:
        ended.append(records.end(session, ASSIGNMENTS, editor, row.id, expected=row.version, on=on,
                                 end_reason="released", reason=reason))
    return {**records.read(session, STAFF, staff_id, editor.scope), "ended": ended,
            "without_lead": without_lead(session, editor.scope, codes=sorted({e["grid_code"] for e in ended}))}


def _grid(session: Session, scope: Scope, code: str) -> dict:
    condition, params = scope.codes("g.code")
    found = session.execute(text(f"SELECT g.id, g.code, g.name FROM grids g WHERE g.code = :c "
                                 f"AND g.retired_at IS NULL AND {condition}"), {**params, "c": code}).mappings().first()
    if found is None:
        raise NotFound(f"没有网格 {code} / no grid {code}", where="grid")
    return dict(found)


def _staff_values(session: Session, fields: dict, *, own: int | None) -> dict[str, tuple[str, dict]]:
    """The columns to write; a phone is a plausible work number no other current person has."""
    values = {}
    for column in STAFF_FIELDS:
        if column not in fields:
            continue
        value = fields[column]
        if column == "sex" and value is not None:
            value = value.value
        if column == "phone":
            try:
                parse_phone(value)
            except BadValue as exc:
                raise InvalidInput(f"电话{exc.reason}", where="phone") from None
            _phone_free(session, value, own=own)
        values[column] = (f":{column}", {column: value})
    return values


def _phone_free(session: Session, phone: str, *, own: int | None) -> None:
    """One current person per work phone (the staff list's natural key)."""
    other = session.execute(text(f"SELECT id FROM staff WHERE ended_on IS NULL AND {phone_key_sql('phone')} = :k "
                                 "AND id IS DISTINCT FROM :own ORDER BY id LIMIT 1"),
                            {"k": phone_key(phone), "own": own}).scalar()
    if other is not None:
        raise Conflict(f"电话 {phone} 已登记为工作人员 {other} / the phone {phone} is staff member {other}'s",
                       where="phone", staff_id=other)
