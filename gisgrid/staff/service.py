"""Reading staff and their roles on grids. A caller sees the assignments on the grids of their
scope (``Principal.scope``): a worker their own grids' teams and those of the grids above
and below them, never a sibling grid's."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gisgrid.core.enums import StaffRole
from gisgrid.core.errors import InvalidInput
from gisgrid.core.paging import Page, Where, json_page
from gisgrid.core.scope import Scope
from gisgrid.grids.service import grid_by_code


def assigned_within(scope: Scope) -> tuple[str, dict]:
    """A condition on staff ``s``: assigned to a grid in ``scope`` (the whole installation: any
    staff member, assigned or not)."""
    if scope.whole:
        return "true", {}
    condition, params = scope.codes("g.code")
    return (f"EXISTS (SELECT 1 FROM grid_assignments sa JOIN grids g ON g.id = sa.grid_id "
            f"WHERE sa.staff_id = s.id AND {condition})", params)


def list_staff(session: Session, *, grid: str | None, role: str | None, page: Page,
               scope: Scope) -> dict:
    """Assignments (one row per staff member and grid role); a grid's list includes its children's.
    ``scope``: the caller's, on the assignments' grids."""
    where = Where()
    where.add("s.active")
    where.add(*scope.codes("g.code"))
    if grid is not None:
        found = grid_by_code(session, grid)
        where.add("left(g.code, :len) = :prefix", len=len(found.code), prefix=found.code)
    if role is not None:
        if role not in {r.value for r in StaffRole}:
            raise InvalidInput(f"unknown role {role!r}; known: {', '.join(r.value for r in StaffRole)}",
                               where="role")
        where.add("a.role = :role", role=role)
    condition = where.sql
    joins = "FROM grid_assignments a JOIN staff s ON s.id = a.staff_id JOIN grids g ON g.id = a.grid_id"
    result = json_page(
        session,
        rows_sql=f"""SELECT s.id AS staff_id, s.name, s.phone, s.title, a.role, g.code AS grid_code,
                     g.name AS grid_name, g.level {joins} WHERE {condition}
                     ORDER BY g.code, a.role = 'grid_lead' DESC, a.role, s.id""",
        count_sql=f"SELECT count(*) {joins} WHERE {condition}",
        params=where.params, page=page,
    )
    for item in result["items"]:
        item["role_label"] = StaffRole(item["role"]).label_zh
    return result
