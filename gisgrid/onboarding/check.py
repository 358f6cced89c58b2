"""The readiness check: what a sub-district still lacks before it can work, each gap with its count
and its first examples, for ``gisgrid check``, ``GET /check`` and the administrators' page.

Choices
    * A grid lacks a lead when no *active* staff member leads it: a lead who has left does not
      answer for the grid (the coverage report's ``no_lead`` counts any lead, active or not).
    * Buildings are placed in grids by their stored membership (what the ledger and the loads
      read); "outside every grid" is no grid at any level. Buildings missing only a lower level
      are coverage orphans, reported with the coverage defects.
    * Residential and mixed-use buildings need households; a household that is not vacant needs
      residents.
    * Staff belong to a sub-district through a grid assignment there (a retired grid's too), its
      leading group, or an account of it. Leading-group members work for the whole sub-district,
      so they need no grid. Staff tied to no sub-district at all are shown only to callers who
      see the whole installation and ask for no one sub-district.
    * The coverage defects are those of :func:`gisgrid.coverage.service.analyse`, less
      ``no_lead`` (the lead gaps above say it per level, for active leads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import Forbidden, NotFound
from gisgrid.core.scope import Scope
from gisgrid.core.secrets import mask_phone
from gisgrid.coverage import service as coverage

EXAMPLES = 5
LEVEL_ZH = {1: "一级", 2: "二级", 3: "三级"}


@dataclass
class Gap:
    """One thing to put right: ``count`` of them, the first ``examples`` (id, code, name,
    address and a link to the page that shows it, each None where it does not apply)."""

    key: str
    label: str
    count: int
    examples: list[dict] = field(default_factory=list)


@dataclass
class Readiness:
    subdistrict: str | None
    gaps: list[Gap]

    @property
    def ready(self) -> bool:
        return all(gap.count == 0 for gap in self.gaps)

    def counts(self) -> dict[str, int]:
        return {gap.key: gap.count for gap in self.gaps}

    def as_json(self) -> dict:
        return {"subdistrict": self.subdistrict, "ready": self.ready,
                "missing": sum(1 for gap in self.gaps if gap.count), "gaps": [asdict(gap) for gap in self.gaps]}


def _example(id=None, code=None, name=None, address=None, link=None) -> dict:
    return {"id": id, "code": code, "name": name, "address": address, "link": link}


# Each query answers the first rows and, on every row, the total (a window runs before LIMIT).
# :sd (nullable) is the sub-district asked for; the scope conditions are the caller's.
NO_LEAD = """
SELECT g.code, g.name, count(*) OVER () AS total FROM grids g
WHERE g.retired_at IS NULL AND g.level = :level AND (CAST(:sd AS text) IS NULL OR g.subdistrict_code = :sd)
  AND {grids} AND NOT EXISTS (SELECT 1 FROM grid_leads l WHERE l.grid_id = g.id AND l.active)
ORDER BY g.code LIMIT :n
"""
BUILDINGS_OUTSIDE = """
SELECT b.id, b.name, b.address, count(*) OVER () AS total FROM buildings b
WHERE (CAST(:sd AS text) IS NULL OR b.subdistrict_code = :sd) AND {rows}
  AND b.grid_l1_id IS NULL AND b.grid_l2_id IS NULL AND b.grid_l3_id IS NULL
ORDER BY b.id LIMIT :n
"""
BUILDINGS_EMPTY = """
SELECT b.id, b.name, b.address, count(*) OVER () AS total FROM buildings b
WHERE (CAST(:sd AS text) IS NULL OR b.subdistrict_code = :sd) AND {rows} AND b.use IN ('residential', 'mixed')
  AND NOT EXISTS (SELECT 1 FROM households h WHERE h.building_id = b.id)
ORDER BY b.id LIMIT :n
"""
HOUSEHOLDS_EMPTY = """
SELECT h.id, b.id AS building_id, b.name, b.address, h.entrance, h.floor, h.room, count(*) OVER () AS total
FROM households h JOIN buildings b ON b.id = h.building_id
WHERE (CAST(:sd AS text) IS NULL OR b.subdistrict_code = :sd) AND {rows} AND h.occupancy <> 'vacant'
  AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.household_id = h.id)
ORDER BY h.id LIMIT :n
"""
# The staff of the sub-district asked for (see the module docstring).
STAFF_HERE = """
s.active AND (
    EXISTS (SELECT 1 FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
            WHERE a.staff_id = s.id AND (CAST(:sd AS text) IS NULL OR g.subdistrict_code = :sd) AND {grids})
    OR EXISTS (SELECT 1 FROM leading_group_members m WHERE m.staff_id = s.id
               AND (CAST(:sd AS text) IS NULL OR m.subdistrict_code = :sd) AND {leading})
    OR EXISTS (SELECT 1 FROM accounts ac WHERE ac.staff_id = s.id
               AND (CAST(:sd AS text) IS NULL OR ac.subdistrict_code = :sd) AND {accounts})
    OR (:unplaced AND NOT EXISTS (SELECT 1 FROM grid_assignments a WHERE a.staff_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM leading_group_members m WHERE m.staff_id = s.id)))
"""
STAFF_WITHOUT_ACCOUNT = f"""
SELECT s.id, s.name, s.phone, s.title, count(*) OVER () AS total FROM staff s
WHERE {STAFF_HERE} AND NOT EXISTS (SELECT 1 FROM accounts ac WHERE ac.staff_id = s.id)
ORDER BY s.id LIMIT :n
"""
STAFF_WITHOUT_GRID = f"""
SELECT s.id, s.name, s.phone, s.title, count(*) OVER () AS total FROM staff s
WHERE {STAFF_HERE}
  AND NOT EXISTS (SELECT 1 FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
                  WHERE a.staff_id = s.id AND g.retired_at IS NULL)
  AND NOT EXISTS (SELECT 1 FROM leading_group_members m WHERE m.staff_id = s.id)
ORDER BY s.id LIMIT :n
"""


def _subdistrict(session: Session, subdistrict: str | None, scope: Scope) -> str | None:
    """The sub-district asked for, within the caller's: theirs by default, one outside it 404."""
    if scope.community is not None or scope.grids is not None:
        raise Forbidden("就绪检查面向整个街道 / the readiness check is for sub-district-wide callers", where="role")
    if scope.subdistrict is not None and subdistrict not in (None, scope.subdistrict):
        raise NotFound(f"没有街道 {subdistrict} / no sub-district {subdistrict}", where="subdistrict")
    subdistrict = subdistrict or scope.subdistrict
    if subdistrict is not None and session.execute(text("SELECT 1 FROM subdistricts WHERE code = :c"),
                                                   {"c": subdistrict}).first() is None:
        raise NotFound(f"没有街道 {subdistrict} / no sub-district {subdistrict}", where="subdistrict")
    return subdistrict


def _gap(session: Session, key: str, label: str, sql: str, params: dict, example) -> Gap:
    rows = session.execute(text(sql), {**params, "n": EXAMPLES}).all()
    return Gap(key, label, rows[0].total if rows else 0, [example(row) for row in rows])


def readiness(session: Session, subdistrict: str | None, scope: Scope) -> Readiness:
    """Every gap of ``subdistrict`` (None: every sub-district the caller sees), in the order an
    office fills them: the boundary, grids and their leads, buildings, households, residents,
    staff, coverage."""
    subdistrict = _subdistrict(session, subdistrict, scope)
    rows, row_params = scope.rows("b")
    grids, grid_params = scope.codes("g.code")
    params = {"sd": subdistrict, **row_params, **grid_params,
              "unplaced": subdistrict is None and (scope.whole or scope.subdistrict is None)}

    def grid_example(row):
        return _example(code=row.code, name=row.name, link=f"/grids/{row.code}/board")

    def building_example(row):
        return _example(id=row.id, name=row.name, address=row.address, link=f"/buildings/{row.id}/diagram")

    def household_example(row):
        return _example(id=row.id, name=row.name, link=f"/buildings/{row.building_id}/diagram",
                        address=f"{row.address} {row.entrance}单元 {row.floor}层 {row.room}")

    def staff_example(row):
        return _example(id=row.id, name=row.name, code=mask_phone(row.phone) if row.phone else None,
                        address=row.title)

    condition, codes = scope.codes("code")
    loaded = session.execute(text(f"SELECT count(*) FROM subdistricts WHERE (CAST(:sd AS text) IS NULL OR code = :sd) "
                                  f"AND {condition}"), {"sd": subdistrict, **codes}).scalar_one()
    gaps = [Gap("territory", "尚未导入街道边界 / no sub-district boundary loaded", 0 if loaded else 1)]
    gaps += [_gap(session, f"no_lead_l{level}", f"无网格长的{LEVEL_ZH[level]}网格 / L{level} grids without an active lead",
                 NO_LEAD.format(grids=grids), {**params, "level": level}, grid_example) for level in (1, 2, 3)]
    staff_sql = {"grids": grids, "leading": scope.codes("m.subdistrict_code")[0],
                 "accounts": scope.codes("ac.subdistrict_code")[0]}
    gaps += [
        _gap(session, "buildings_outside_grids", "不在任何网格内的楼栋 / buildings outside every grid",
             BUILDINGS_OUTSIDE.format(rows=rows), params, building_example),
        _gap(session, "buildings_without_households", "没有住户的住宅楼 / residential buildings without households",
             BUILDINGS_EMPTY.format(rows=rows), params, building_example),
        _gap(session, "households_without_residents", "没有居民的住户 / households without residents",
             HOUSEHOLDS_EMPTY.format(rows=rows), params, household_example),
        _gap(session, "staff_without_account", "没有账号的在岗工作人员 / active staff without an account",
             STAFF_WITHOUT_ACCOUNT.format(**staff_sql), params, staff_example),
        _gap(session, "staff_without_grid", "未分配网格的工作人员 / staff without a grid assignment",
             STAFF_WITHOUT_GRID.format(**staff_sql), params, staff_example),
    ]
    gaps += _coverage_gaps(session, subdistrict)
    return Readiness(subdistrict, gaps)


def _coverage_gaps(session: Session, subdistrict: str | None) -> list[Gap]:
    """One gap per coverage defect type, its examples linking to the coverage map."""
    report = coverage.analyse(session, coverage.Scope(subdistrict=subdistrict))
    link = "/map/coverage" + (f"?subdistrict={subdistrict}" if subdistrict else "")
    gaps = []
    for kind in coverage.DEFECT_TYPES:
        if kind == "no_lead":
            continue
        found = [d for d in report.defects if d.type == kind]
        examples = []
        for d in found[:EXAMPLES]:
            if "id" in d.detail:  # an orphan point: a building, unit or shop
                examples.append(_example(id=d.detail["id"], name=d.detail["name"], link=link))
            else:
                what = f"{d.area_m2:,.1f} m²" if d.area_m2 is not None else f"{d.detail.get('households', 0)} 户"
                examples.append(_example(code="、".join(d.grids), name=what, link=link))
        gaps.append(Gap(f"coverage_{kind}", f"{coverage.LABELS_ZH[kind]} / {kind.replace('_', ' ')}", len(found),
                        examples))
    return gaps


def format_readiness(result: Readiness) -> str:
    """The check as the command line prints it: every gap with its count, the examples under it."""
    where = result.subdistrict or "全部街道 / every sub-district"
    lines = [f"就绪检查 / readiness check: {where}", ""]
    for gap in result.gaps:
        mark = "✓" if gap.count == 0 else "✗"
        lines.append(f"  {mark} {gap.label:<52}{gap.count:>8,}")
        for example in gap.examples:
            shown = "  ".join(str(example[k]) for k in ("code", "id", "name", "address") if example[k] is not None)
            lines.append(f"        {shown}")
    missing = sum(1 for gap in result.gaps if gap.count)
    lines += ["", "可以开始工作 / ready: nothing is missing" if result.ready else
              f"尚缺 {missing} 项 / {missing} kinds of thing still missing"]
    return "\n".join(lines)
