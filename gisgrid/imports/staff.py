"""Import staff and their grid assignments from a staff list (姓名, 电话, 角色, 网格编码 …).

Called by :func:`gisgrid.imports.service.import_file` once the file is read and its cells
parsed; the same report, ``--strict``, ``--dry-run`` and savepoint as the other kinds.

Policy
    * One row per grid assignment: a person on two grids, or with two roles, has two rows. The
      person is the phone (the staff natural key, compared as
      :func:`gisgrid.core.phones.phone_key`: digits only, +86 dropped); every row of one phone
      must give the same name, the person's other details come from their first row.
    * The grid code names an active grid of any level (in ``--subdistrict`` when given).
    * One lead (网格长) per grid, as the database enforces: a second lead for a grid in the file
      is refused naming the first; a grid whose lead in the database is someone else is refused,
      unless ``--update``, which replaces that lead (the former lead keeps their other roles,
      and the replacement is in the report's notes and the audit row).
    * Without ``--update`` an import only adds: a phone already in the database under another
      name, or an assignment already there, is refused. With ``--update`` a known phone's name,
      title, sex and party membership change where the file gives a differing value (an empty
      cell changes nothing), new assignments are added, and assignments the file does not list
      are left alone: a list of one community's grids cannot retire the others' staff.
    * Counted per row: ``added`` a new assignment, ``changed`` an assignment already there whose
      person changed, ``unchanged`` one already there as the file says.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.core.enums import StaffRole
from gisgrid.core.errors import InvalidInput
from gisgrid.core.phones import phone_key_sql
from gisgrid.grids.models import check_grid_code, is_grid_code, no_such_grid
from gisgrid.imports.reading import Table
from gisgrid.imports.report import ImportReport, Refusal
from gisgrid.imports.service import ImportOptions, Rows, all_or_nothing

LEAD = StaffRole.GRID_LEAD.value
DETAILS = ("name", "title", "sex", "party_member")  # what --update may change on a staff record


@dataclass
class _Plan:
    """What the accepted rows will write."""

    new_staff: dict[str, dict] = field(default_factory=dict)       # phone → details
    changes: dict[int, dict] = field(default_factory=dict)         # staff id → details after the change
    # (phone, staff id or None for a new person, grid id, role)
    assignments: list[tuple[str, int | None, int, str]] = field(default_factory=list)
    replaced: list[dict] = field(default_factory=list)             # leads the file replaces
    outcome: dict[int, str] = field(default_factory=dict)          # row index → added / changed / unchanged


def import_staff(session: Session, table: Table, columns: dict[str, str], rows: Rows, report: ImportReport,
                 options: ImportOptions) -> ImportReport:
    """Check every row, then write the accepted ones in one savepoint; the caller commits."""
    grids = _grids(session, table, columns, rows, options)
    _check_file(table, columns, rows, grids)
    plan = None

    def check() -> list[Refusal]:
        nonlocal plan
        plan = _check_database(session, table, columns, rows, grids, options, report)
        return [r for found in rows.refusals.values() for r in found]

    return all_or_nothing(session, report, options, check, lambda: _write(session, plan, grids, table, report, options.actor))


def _row(table: Table, i: int) -> int:
    return int(table.row_numbers[i])


def _open(rows: Rows, n: int) -> list[int]:
    """The row indexes not refused so far."""
    return [i for i in range(n) if i not in rows.refusals]


def _grids(session, table, columns, rows, options) -> dict[str, dict]:
    """The file's grid codes that name an active grid (in ``options.subdistrict``); the others' rows refused."""
    codes = {c for c in rows.values["grid_code"] if c is not None}
    found = {r.code: dict(r._mapping) for r in session.execute(text(
        "SELECT code, id, name, subdistrict_code, retired_at IS NOT NULL AS retired FROM grids WHERE code = ANY(:c)"),
        {"c": sorted(codes)})}
    column = columns["grid_code"]
    for i in _open(rows, table.rows):
        code = rows.values["grid_code"][i]
        grid = found.get(code)
        reason = None
        if not is_grid_code(code):
            try:
                check_grid_code(code, where=column)
            except InvalidInput as exc:
                reason = exc.message
        elif grid is None or grid["retired"]:
            reason = no_such_grid(code, column, active=True).message
        elif options.subdistrict is not None and grid["subdistrict_code"] != options.subdistrict:
            rows.refuse(i, Refusal(_row(table, i), "outside_subdistrict",
                                   f"网格 {code} 属于街道 {grid['subdistrict_code']}，不是 {options.subdistrict} / "
                                   f"grid {code} is in sub-district {grid['subdistrict_code']}, not "
                                   f"{options.subdistrict}", column, code))
        if reason is not None:
            rows.refuse(i, Refusal(_row(table, i), "unknown_grid", reason, column, code))
    return {code: grid for code, grid in found.items() if not grid["retired"]}


def _check_file(table, columns, rows, grids) -> None:
    """Within the file: one name per phone, no assignment twice, one lead per grid."""
    v = rows.values
    first_of_phone: dict[str, int] = {}
    for i in _open(rows, table.rows):
        first = first_of_phone.setdefault(v["phone"][i], i)
        if v["name"][first] != v["name"][i]:
            rows.refuse(i, Refusal(
                _row(table, i), "name_mismatch",
                f"电话 {v['phone'][i]} 在第 {_row(table, first)} 行是“{v['name'][first]}”，此处是“{v['name'][i]}” / "
                f"phone {v['phone'][i]} is {v['name'][first]} at row {_row(table, first)}, {v['name'][i]} here",
                columns["name"], v["name"][i]))
    first_of: dict[tuple, int] = {}
    lead_of: dict[str, int] = {}
    for i in _open(rows, table.rows):
        code, role = v["grid_code"][i], v["role"][i]
        first = first_of.setdefault((v["phone"][i], code, role), i)
        if first != i:
            rows.refuse(i, Refusal(_row(table, i), "duplicate",
                                   f"与第 {_row(table, first)} 行是同一任职 / the same assignment as row "
                                   f"{_row(table, first)} (the first is kept)", columns["role"], role))
            continue
        if role != LEAD:
            continue
        lead = lead_of.setdefault(code, i)
        if lead != i:
            rows.refuse(i, Refusal(
                _row(table, i), "one_lead",
                f"网格 {code} 的网格长已在第 {_row(table, lead)} 行（{v['name'][lead]}），一格一长 / grid {code} "
                f"already has its lead at row {_row(table, lead)} ({v['name'][lead]}): one lead per grid",
                columns["role"], role))


def _given(table, columns, name: str, i: int) -> bool:
    """Whether the file states ``name`` on row ``i`` (a column and a non-empty cell)."""
    column = columns.get(name)
    return column is not None and table.cells[column][i] is not None and bool(str(table.cells[column][i]).strip())


def _check_database(session, table, columns, rows, grids, options, report) -> _Plan:
    """Against the database: who each phone is, the assignments and leads already there."""
    v = rows.values
    plan = _Plan()
    phones = sorted({v["phone"][i] for i in _open(rows, table.rows)})
    known: dict[str, list[dict]] = {}
    for r in session.execute(text(f"""
            SELECT id, name, title, sex, party_member, {phone_key_sql('phone')} AS key FROM staff
            WHERE {phone_key_sql('phone')} = ANY(:phones) ORDER BY id"""), {"phones": phones}):
        known.setdefault(r.key, []).append(dict(r._mapping))
    ids = [people[0]["id"] for people in known.values() if len(people) == 1]
    held = {(r.staff_id, r.grid_id, r.role) for r in session.execute(text(
        "SELECT staff_id, grid_id, role FROM grid_assignments WHERE staff_id = ANY(:s)"), {"s": ids})}
    leads = {r.grid_id: r for r in session.execute(text("""
        SELECT a.grid_id, a.staff_id, s.name, s.phone FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
        WHERE a.role = 'grid_lead' AND a.grid_id = ANY(:g)"""), {"g": [g["id"] for g in grids.values()]})}
    differing, seen = set(), set()
    for i in _open(rows, table.rows):
        phone, name, code, role = v["phone"][i], v["name"][i], v["grid_code"][i], v["role"][i]
        grid, people = grids[code], known.get(phone, [])
        refuse = _refuser(rows, table, columns, i)
        if len(people) > 1:
            listed = ", ".join(f"#{p['id']}" for p in people)
            refuse("duplicate", f"电话 {phone} 对应 {len(people)} 名工作人员（{listed}），请先合并 / the phone {phone} "
                   f"belongs to {len(people)} staff records ({listed}): merge them first", "phone", phone)
            continue
        person = people[0] if people else None
        staff_id = person["id"] if person else None
        if person is not None and person["name"] != name and not options.update:
            refuse("name_mismatch", f"电话 {phone} 在库中属于“{person['name']}”（#{staff_id}），不是“{name}”，--update "
                   f"可改名 / the phone {phone} belongs to {person['name']} (#{staff_id}) in the database, not "
                   f"{name}: --update renames", "name", name)
            continue
        exists = staff_id is not None and (staff_id, grid["id"], role) in held
        if exists and not options.update:
            refuse("duplicate", f"{name} 已是网格 {code} 的{StaffRole(role).label_zh} / {name} already has this role "
                   f"on grid {code}", "role", role)
            continue
        lead = leads.get(grid["id"]) if role == LEAD and not exists else None
        if lead is not None and lead.staff_id != staff_id:
            if not options.update:
                refuse("one_lead", f"网格 {code} 已有网格长 {lead.name}（{lead.phone}），--update 可替换 / grid {code} "
                       f"already has a lead, {lead.name} ({lead.phone}): --update replaces them", "role", role)
                continue
            plan.replaced.append({"grid": code, "grid_id": grid["id"], "staff_id": lead.staff_id, "name": lead.name,
                                  "by": name})
        if person is None:
            plan.new_staff.setdefault(phone, {d: v[d][i] for d in DETAILS})
        elif staff_id not in seen:  # the person's details: from their first accepted row
            seen.add(staff_id)
            wanted = {d: v[d][i] for d in DETAILS if d == "name" or _given(table, columns, d, i)}
            if any(person[d] != value for d, value in wanted.items()):
                if options.update:
                    plan.changes[staff_id] = {**{d: person[d] for d in DETAILS}, **wanted}
                else:
                    differing.add(staff_id)
        if exists:
            plan.outcome[i] = "changed" if staff_id in plan.changes else "unchanged"
        else:
            plan.assignments.append((phone, staff_id, grid["id"], role))
            plan.outcome[i] = "added"
    if differing:
        report.warnings.append(f"{len(differing)} 名已有工作人员的职务、性别或党员与文件不同，未修改（--update 修改）/ "
                               f"{len(differing)} staff already stored differ from the file in title, sex or party "
                               "membership: kept as stored (--update changes them)")
    return plan


def _refuser(rows, table, columns, i):
    """A refusal of row ``i`` for a field, named by its column as the file names it."""
    def refuse(code: str, reason: str, name: str, value) -> None:
        rows.refuse(i, Refusal(_row(table, i), code, reason, columns[name], value))
    return refuse


def _write(session, plan: _Plan, grids, table, report: ImportReport, actor: str | None) -> None:
    """New staff, changed staff, replaced leads gone, new assignments; one audit row."""
    new = plan.new_staff
    ids = dict(session.execute(text("""
        INSERT INTO staff (name, phone, title, sex, party_member)
        SELECT n, p, t, CAST(s AS sex), m FROM unnest(CAST(:n AS text[]), CAST(:p AS text[]), CAST(:t AS text[]),
                                                  CAST(:s AS text[]), CAST(:m AS boolean[])) AS u(n, p, t, s, m)
        RETURNING phone, id"""), {"n": [d["name"] for d in new.values()], "p": list(new),
                                  "t": [d["title"] for d in new.values()], "s": [d["sex"] for d in new.values()],
                                  "m": [bool(d["party_member"]) for d in new.values()]}).all()) if new else {}
    if plan.changes:
        changed = list(plan.changes.items())
        session.execute(text("""
            UPDATE staff s SET name = u.n, title = u.t, sex = CAST(u.s AS sex), party_member = u.m
            FROM unnest(CAST(:i AS int[]), CAST(:n AS text[]), CAST(:t AS text[]), CAST(:s AS text[]),
                        CAST(:m AS boolean[])) AS u(i, n, t, s, m)
            WHERE s.id = u.i"""), {"i": [k for k, _ in changed], "n": [d["name"] for _, d in changed],
                                   "t": [d["title"] for _, d in changed], "s": [d["sex"] for _, d in changed],
                                   "m": [bool(d["party_member"]) for _, d in changed]})
    for lead in plan.replaced:
        session.execute(text("UPDATE grid_assignments SET ended_on = current_date, end_reason = 'reassigned' "
                             "WHERE grid_id = :g AND staff_id = :s AND role = 'grid_lead'"),
                        {"g": lead["grid_id"], "s": lead["staff_id"]})
        report.warnings.append(f"网格 {lead['grid']} 的网格长由 {lead['name']} 换为 {lead['by']} / grid "
                               f"{lead['grid']}: lead {lead['name']} replaced by {lead['by']}")
    made = plan.assignments
    report.ids = list(session.execute(text("""
        INSERT INTO grid_assignments (staff_id, grid_id, role)
        SELECT s, g, CAST(r AS staff_role) FROM unnest(CAST(:s AS int[]), CAST(:g AS int[]), CAST(:r AS text[]))
            AS u(s, g, r)
        RETURNING id"""), {"s": [ids[p] if s is None else s for p, s, _, _ in made], "g": [g for _, _, g, _ in made],
                           "r": [r for _, _, _, r in made]}).scalars()) if made else []
    counts = Counter(plan.outcome.values())
    report.added, report.changed, report.unchanged = counts["added"], counts["changed"], counts["unchanged"]
    report.loaded = report.added + report.changed
    by_grid = {g["id"]: g["subdistrict_code"] for g in grids.values()}
    report.subdistricts = dict(sorted(Counter(by_grid[g] for _, _, g, _ in made).items()))
    if new or plan.changes:
        report.warnings.append(f"工作人员：新增 {len(new)} 名，修改 {len(plan.changes)} 名 / staff: {len(new)} new, "
                               f"{len(plan.changes)} changed")
    record(session, actor=actor or "gisgrid", action="import", outcome="ok", object_type="staff",
           object_id=report.file[:100],
           detail={"rows": report.rows, "added": report.added, "changed": report.changed,
                   "unchanged": report.unchanged, "refused": report.refused_rows, "new_staff": sorted(ids.values()),
                   "changed_staff": sorted(plan.changes), "assignments": report.ids,
                   "leads_replaced": [{k: lead[k] for k in ("grid", "staff_id")} for lead in plan.replaced]})
