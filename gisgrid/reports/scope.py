"""What a report covers: the whole city, a sub-district, a community (L1) or a grid (L2/L3),
as SQL conditions on cases (by the grids they were reported in), on visits and on grids, and
the units one level down that the report breaks its figures into. A caller's report covers
their own scope or a part of it; anything wider does not exist for them (404)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.core.enums import Role
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.grids.models import no_such_grid
from gisgrid.grids.service import grid_in_scope


@dataclass(frozen=True)
class Scope:
    kind: str              # city, subdistrict, community, grid, subgrid
    code: str | None
    name: str
    cases: str             # condition on cases c
    visits: str            # condition on visits v
    grids: str             # condition on grids g: the scope's own, above or below it
    child_kind: str | None
    child_key: str | None  # the cases column naming the unit one level down
    child_units: str | None  # SELECT id, code, name of those units
    params: dict
    buildings: str = "true"  # condition on buildings b (the ledger as it stood: their grids then)

    @property
    def label(self) -> str:
        return {"city": "全市 / city", "subdistrict": "街道 / sub-district", "community": "社区 / community",
                "grid": "网格 / grid", "subgrid": "微网格 / sub-grid"}[self.kind]


def within(session: Session, principal: Principal, code: str | None) -> str | None:
    """The scope a caller's report covers: ``code`` when it lies inside the caller's scope, their
    own scope when it is omitted (a community manager's community, anyone else's sub-district,
    the city for a city-wide account); a wider or foreign scope is 404, as if it did not exist."""
    if code is None:
        code = principal.community[1] if principal.community else principal.subdistrict
    if code is None or len(code) == 9:
        narrower = principal.community is not None or principal.role is Role.GRID_WORKER
        if narrower or principal.subdistrict not in (None, code):
            raise NotFound(f"没有范围 {code or '全市'} / no scope {code or 'city'}", where="scope")
    else:
        grid_in_scope(session, principal, code)
    return code


def resolve(session: Session, code: str | None, caller: Principal | None) -> Scope:
    """The scope named by ``code``, checked against the ``caller``'s own (none: the operator's
    commands, which see everything)."""
    code = code or None
    if code is not None and (not code.isdigit() or len(code) not in (9, 12, 15, 18)):
        raise InvalidInput(f"范围应为街道（9 位）或网格编码（12、15、18 位）/ a scope is a sub-district code (9 digits) "
                           f"or a grid code (12, 15 or 18 digits), got {code!r}", where="scope")
    if caller is not None:
        code = within(session, caller, code)
    if code is None:
        return Scope("city", None, "全市", "true", "true", "true", "subdistrict", "c.subdistrict_code",
                     "SELECT code AS id, code, name FROM subdistricts", {}, "true")
    if len(code) == 9:
        name = session.execute(text("SELECT name FROM subdistricts WHERE code = :c"), {"c": code}).scalar()
        if name is None:
            raise NotFound(f"没有街道 {code} / no sub-district {code}", where="scope")
        return Scope("subdistrict", code, name, "c.subdistrict_code = :scope", "v.subdistrict_code = :scope",
                     "g.subdistrict_code = :scope", "community", "c.grid_l1_id",
                     "SELECT id, code, name FROM grids WHERE subdistrict_code = :scope AND level = 1 "
                     "AND retired_at IS NULL", {"scope": code}, "b.subdistrict_code = :scope")
    grid = session.execute(text("SELECT id, level, name FROM grids WHERE code = :c"), {"c": code}).first()
    if grid is None:
        raise no_such_grid(code, where="scope")
    children = ("SELECT id, code, name FROM grids WHERE parent_code = :code AND retired_at IS NULL"
                if grid.level < 3 else None)
    visits = {1: "v.grid_l2_id IN (SELECT id FROM grids WHERE parent_code = :code)",
              2: "v.grid_l2_id = :scope",
              3: "v.building_id IN (SELECT id FROM all_buildings WHERE grid_l3_id = :scope)"}[grid.level]
    kind = {1: "community", 2: "grid", 3: "subgrid"}[grid.level]
    return Scope(kind, code, grid.name, f"c.grid_l{grid.level}_id = :scope", visits,
                 "(starts_with(g.code, :code) OR starts_with(:code, g.code))",
                 {1: "grid", 2: "subgrid", 3: None}[grid.level],
                 f"c.grid_l{grid.level + 1}_id" if grid.level < 3 else None, children,
                 {"scope": grid.id, "code": code}, f"b.grid_l{grid.level}_id = :scope")
