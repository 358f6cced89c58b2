"""``gisgrid import residents FILE``: a community's 台帐 of residents into households.

Policy (beside the import service's own: every row checked first, COPY staging, one savepoint)
    * The flat is building address + 单元 + 楼层 + 房号, or one 地址 text split here
      ("幸福路12号2单元3层301室", "幸福路12号2-3-301"); a 地址 with a 房号 column beside it is the
      building's address. A missing 单元 is 1; a missing 楼层 is read from a 3- or 4-digit room
      number (301 → 3). The building must exist (normalised address key): import buildings first.
      Households are created as needed (自住); every household the import touches ends with
      ``member_count`` = its residents, and a vacant one that gains residents becomes 自住.
    * ID numbers follow GB 11643 (:mod:`gisgrid.registry.idnumbers`); a 15-digit old number is
      converted to 18 digits and the warnings name its rows. Sex and birth year come from the ID
      number when their cells are empty; a cell that disagrees with it is refused. A person with
      no ID number needs both.
    * A resident is its ID number (through the blind index), else name + household. Without
      ``update`` a person already registered is refused, saying where (masked ID). With
      ``update`` only what differs changes; a row naming another flat moves the person and the
      report lists the move; an empty phone cell or a missing 重点人群 column keeps what is
      stored, a present 重点人群 cell makes the person's groups exactly the file's. Residents
      not in the file are left as they are.
    * ID numbers and phones are sealed as the registry stores them (encrypted, masked, blind
      index); the plaintext reaches no table, the report or the audit entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from gisgrid.audit.service import record
from gisgrid.core.errors import InvalidInput
from gisgrid.core.secrets import keyring, mask_id_number, mask_phone
from gisgrid.imports.fields import BadValue, Kind, address_key
from gisgrid.imports.reading import Table
from gisgrid.imports.report import ImportReport, Move, Refusal
from gisgrid.imports.service import (
    STAGE,
    ImportOptions,
    Rows,
    _collect,
    _parse_rows,
    all_or_nothing,
    flat_refusals,
    locate_buildings,
)
from gisgrid.registry.idnumbers import parse_id_number, parse_phone

_BUILDING = r"(?P<b>.*?[号楼栋座院幢])"
_FLAT_PATTERNS = (
    re.compile(_BUILDING + r"(?P<e>\d{1,2})-(?P<f>-?\d{1,3})-(?P<r>[0-9A-Za-z]+)[室户]?"),
    re.compile(_BUILDING + r"(?:(?P<e>\d{1,2})单元)?(?:(?P<f>-?\d{1,3})[层楼])?(?P<r>\d{1,5}[A-Za-z]?)[室户号]?"),
)
_TAG_SEPARATORS = re.compile(r"[、，,;；/\s]+")
# words 台帐 use for the reference key groups (migration 0003), beside each group's name and code
_GROUP_WORDS = {
    "empty_nest_elderly": ("空巢", "空巢老年人"),
    "elderly_living_alone": ("独居", "独居老年人"),
    "disabled": ("残疾", "残疾人员", "残障", "残障人士"),
    "subsistence_allowance": ("低保", "低保户", "低保人员", "最低生活保障"),
    "unemployed_4050": ("4050", "4050人员", "就业困难人员"),
    "released_prisoner": ("刑释解教", "刑满释放", "刑满释放人员", "安置帮教"),
    "community_corrections": ("社区矫正", "社区矫正人员", "矫正对象"),
    "left_behind_child": ("留守",),
    "entitled_group": ("优抚",),
}
_STAGE_COLUMNS = (
    ("name", "text"), ("sex", "text"), ("birth_year", "int"), ("relation", "text"), ("residence_type", "text"),
    ("party_member", "bool"), ("id_enc", "bytea"), ("id_masked", "text"), ("id_index", "bytea"),
    ("id_lookup", "bytea[]"), ("phone_enc", "bytea"), ("phone_masked", "text"), ("phone_index", "bytea"),
    ("groups", "text[]"), ("building", "text"), ("bkey", "text"), ("entrance", "int"), ("floor", "int"),
    ("room", "text"),
)


def _flat_sql(h: str = "h", b: str = "b") -> str:
    """A flat as people write it: "幸福路12号 2单元3层301"."""
    return f"{b}.address || ' ' || {h}.entrance || '单元' || {h}.floor || '层' || {h}.room"


@dataclass
class _Person:
    name: str
    sex: str
    birth_year: int
    relation: str
    residence_type: str
    party_member: bool
    id_number: str | None
    phone: str | None
    groups: list[str] | None
    building: str
    entrance: int
    floor: int
    room: str


def import_residents(session: Session, table: Table, columns: dict[str, str], report: ImportReport,
                     options: ImportOptions) -> ImportReport:
    """Check and load a residents' 台帐; see the module docstring. The caller commits."""
    if "address" not in columns and "building_address" not in columns:
        raise InvalidInput(
            "缺少地址或楼栋地址列 / residents need an address (地址, e.g. 幸福路12号2单元3层301室) or a building "
            f"address (楼栋地址) with 单元, 楼层, 房号 columns; the file has: {', '.join(table.columns)}",
            where="address")
    rows = _parse_rows(table, Kind.RESIDENTS, columns, options.progress)
    groups = _group_lookup(session)
    today = session.execute(text("SELECT current_date")).scalar_one()
    people = _people(table, rows, columns, groups, today, report, options.progress)
    for refusals in rows.refusals.values():
        report.refused.extend(refusals)
    if options.update:
        report.warnings.append("文件中没有的居民保持不变 / residents not in the file are left as they are")

    def check() -> list[Refusal]:
        _stage(session, table, people, options.progress)
        return _check(session, options)

    return all_or_nothing(session, report, options, check, lambda: _write(session, report, options))


# --- rows ------------------------------------------------------------------------------------

def _group_lookup(session: Session) -> tuple[dict[str, str], str]:
    """Tag (case-folded) → key group code, and the allowed tags for a refusal."""
    lookup: dict[str, str] = {}
    allowed = []
    for code, name_zh in session.execute(text("SELECT code, name_zh FROM key_groups ORDER BY sort_order")):
        allowed.append(name_zh)
        for word in (code, name_zh, *_GROUP_WORDS.get(code, ())):
            lookup.setdefault(word.casefold(), code)
    return lookup, "、".join(allowed)


def split_flat(address: str) -> tuple[str, int | None, int | None, str] | None:
    """"幸福路12号2单元3层301室" or "幸福路12号2-3-301" → (building, entrance, floor, room)."""
    compact = "".join(address.split())
    for pattern in _FLAT_PATTERNS:
        found = pattern.fullmatch(compact)
        if found:
            e, f = found["e"], found["f"]
            return found["b"], int(e) if e else None, int(f) if f else None, found["r"]
    return None


def _refuse(rows: Rows, i: int, row: int, code: str, reason: str, column: str | None,
            value: str | None = None) -> None:
    rows.refuse(i, Refusal(row, code, reason, column, value))


def _people(table: Table, rows: Rows, columns: dict[str, str], groups: tuple[dict[str, str], str],
            today: date, report: ImportReport, progress: bool) -> dict[int, _Person]:
    """Each acceptable row as a person (index → person); the others refused in ``rows``."""
    values = rows.values
    lookup, allowed = groups
    ids_cells = table.cells.get(columns.get("id_number", ""), [None] * table.rows)
    phone_cells = table.cells.get(columns.get("phone", ""), [None] * table.rows)
    id_col, phone_col = columns.get("id_number"), columns.get("phone")
    address_col = columns.get("address") or columns.get("building_address")
    has_groups = "key_groups" in columns
    first_id: dict[str, int] = {}
    first_name: dict[tuple, int] = {}
    converted: list[int] = []
    floors_from_rooms = 0
    people: dict[int, _Person] = {}
    for i in tqdm(range(table.rows), desc="居民 / residents", unit="row", disable=not progress, leave=False):
        row = int(table.row_numbers[i])
        # the flat
        building, entrance, floor, room = (values["building_address"][i], values["entrance"][i],
                                           values["floor"][i], values["room"][i])
        address = values["address"][i]
        if building is None and address is not None:
            if room is not None:
                building = address
            else:
                split = split_flat(address)
                if split is None:
                    _refuse(rows, i, row, "bad_value",
                            f"地址“{address}”无法拆分为楼栋、单元、楼层、房号（如 幸福路12号2单元3层301室 或 幸福路12号2-3-301）"
                            f" / cannot split the address {address!r} into building, entrance, floor and room "
                            "(write 幸福路12号2单元3层301室 or 幸福路12号2-3-301)", columns.get("address"), address)
                else:
                    building, entrance, floor, room = (building or split[0], entrance or split[1],
                                                       floor or split[2], room or split[3])
        if building is None and address is None:
            _refuse(rows, i, row, "missing_value", "地址为空 / the address is empty", address_col)
        elif building is not None and room is None:
            _refuse(rows, i, row, "missing_value", "房号为空 / the room is empty", columns.get("room") or address_col)
        if room is not None:
            room = room.removesuffix("室") or room
            if floor is None:
                if room.isdigit() and 3 <= len(room) <= 4 and int(room[:-2]) > 0:
                    floor = int(room[:-2])
                    floors_from_rooms += 1
                else:
                    _refuse(rows, i, row, "missing_value", f"楼层为空，且无法从房号“{room}”推断 / the floor is "
                            f"empty and room {room!r} does not tell it", columns.get("floor") or address_col)
        # ID number, sex, birth year
        id_number = sex = birth_year = None
        raw_id = ids_cells[i]
        if values["id_number"][i] is not None:
            try:
                parsed = parse_id_number(raw_id, today)
            except BadValue as exc:
                zh, en = exc.reason.split(" / ", 1)
                _refuse(rows, i, row, "bad_value", f"公民身份号码{zh} / id_number {en}", id_col)
            else:
                id_number, sex, birth_year = parsed.value, parsed.sex, parsed.birth_year
                if parsed.converted:
                    converted.append(row)
        given_sex, given_year = values["sex"][i], values["birth_year"][i]
        if id_number is not None:
            if given_sex is not None and given_sex != sex:
                _refuse(rows, i, row, "bad_value",
                        f"性别“{_sex_zh(given_sex)}”与公民身份号码所示“{_sex_zh(sex)}”不符 / sex {_sex_zh(given_sex)} "
                        f"({given_sex}) disagrees with the ID number, which says {_sex_zh(sex)} ({sex})",
                        columns.get("sex"), _sex_zh(given_sex))
            if given_year is not None and given_year != birth_year:
                _refuse(rows, i, row, "bad_value",
                        f"出生年份 {given_year} 与公民身份号码所示 {birth_year} 不符 / birth year {given_year} "
                        f"disagrees with the ID number, which says {birth_year}", columns.get("birth_year"),
                        str(given_year))
        elif not _present(raw_id):
            sex, birth_year = given_sex, given_year
            for value, field, zh in ((sex, "sex", "性别"), (birth_year, "birth_year", "出生年份")):
                cells = table.cells.get(columns.get(field, ""))
                if value is None and (cells is None or not _present(cells[i])):
                    _refuse(rows, i, row, "missing_value", f"{zh}为空，且没有公民身份号码可推断 / {field} is empty "
                            "and there is no ID number to infer it from", columns.get(field))
        # phone
        phone = None
        if values["phone"][i] is not None:
            try:
                phone = parse_phone(phone_cells[i])
            except BadValue as exc:
                zh, en = exc.reason.split(" / ", 1)
                _refuse(rows, i, row, "bad_value", f"联系电话{zh} / phone {en}", phone_col)
        # key groups
        codes: list[str] | None = None
        if has_groups:
            codes = []
            for tag in _TAG_SEPARATORS.split(values["key_groups"][i] or ""):
                if not tag:
                    continue
                code = lookup.get(tag.casefold())
                if code is None:
                    _refuse(rows, i, row, "bad_value", f"重点人群“{tag}”未知，可选：{allowed} / unknown key group "
                            f"{tag!r}; allowed: {allowed}", columns["key_groups"], tag)
                elif code not in codes:
                    codes.append(code)
        if i in rows.refusals:
            continue
        # the same person twice in the file
        if id_number is not None:
            if id_number in first_id:
                _refuse(rows, i, row, "duplicate", f"公民身份号码与第 {first_id[id_number]} 行相同 / the same ID "
                        f"number as row {first_id[id_number]} (the first is kept)", id_col, mask_id_number(id_number))
                continue
            first_id[id_number] = row
        else:
            key = (values["name"][i], address_key(building), entrance or 1, floor, room)
            if key in first_name:
                _refuse(rows, i, row, "duplicate", f"与第 {first_name[key]} 行同户同名且无身份证号 / the same name in "
                        f"the same flat as row {first_name[key]}, without an ID number (the first is kept)",
                        columns.get("name"), values["name"][i])
                continue
            first_name[key] = row
        people[i] = _Person(values["name"][i], sex, birth_year, values["relation"][i], values["residence_type"][i],
                            values["party_member"][i], id_number, phone, codes, building, entrance or 1, floor,
                            room)
    if converted:
        shown = ", ".join(map(str, converted[:20])) + (" …" if len(converted) > 20 else "")
        report.warnings.append(f"{len(converted)} 个 15 位旧身份证号已转换为 18 位（第 {shown} 行）/ {len(converted)} "
                               f"old 15-digit ID numbers converted to 18 digits (rows {shown})")
    if floors_from_rooms:
        report.warnings.append(f"{floors_from_rooms} 行的楼层取自房号（301 → 3 层）/ {floors_from_rooms} rows: the floor "
                               "taken from the room number (301 → floor 3)")
    if "entrance" not in columns:
        report.warnings.append("未写单元的按 1 单元 / rows without an entrance (单元) are entrance 1")
    return people


def _present(cell: str | None) -> bool:
    return cell is not None and bool(str(cell).strip())


def _sex_zh(value: str) -> str:
    return {"M": "男", "F": "女"}.get(value, value)


# --- the database ----------------------------------------------------------------------------

def _stage(session: Session, table: Table, people: dict[int, _Person], progress: bool) -> None:
    """COPY the people, sealed, into the stage: plaintext never reaches a table."""
    ring = keyring()
    session.execute(text(
        f"CREATE TEMP TABLE {STAGE} (rownum int PRIMARY KEY, "
        + ", ".join(f"{c} {t}" for c, t in _STAGE_COLUMNS)
        + ", b_id int, b_matches int, b_floors int, b_entrances int, b_address text, subdistrict_code text, "
          "h_id int, r_id int, r_household int, changed bool, new_id int) ON COMMIT DROP"))
    names = ", ".join(["rownum", *(c for c, _ in _STAGE_COLUMNS)])
    dbapi = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cursor, cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN") as copy:
        for i, p in tqdm(people.items(), desc="暂存 / staging", unit="row", disable=not progress, leave=False):
            sealed_id = (ring.seal(p.id_number), mask_id_number(p.id_number), ring.blind_index(p.id_number),
                         ring.blind_indexes(p.id_number)) if p.id_number else (None, None, None, None)
            sealed_phone = (ring.seal(p.phone), mask_phone(p.phone), ring.blind_index(p.phone)) \
                if p.phone else (None, None, None)
            copy.write_row((int(table.row_numbers[i]), p.name, p.sex, p.birth_year, p.relation, p.residence_type,
                            p.party_member, *sealed_id, *sealed_phone, p.groups, p.building, address_key(p.building),
                            p.entrance, p.floor, p.room))
    session.execute(text(f"ANALYZE {STAGE}"))


def _check(session: Session, options: ImportOptions) -> list[Refusal]:
    sd = options.subdistrict
    locate_buildings(session, "bkey")

    def unknown(row) -> Refusal:
        rownum, address, matches = row
        if matches:
            return Refusal(rownum, "unknown_building", f"地址对应 {matches} 栋楼 / the address {address!r} matches "
                           f"{matches} buildings", "building_address", address)
        return Refusal(rownum, "unknown_building", f"楼栋地址“{address}”不存在（请先导入楼栋）/ no building at "
                       f"address {address!r} (import the buildings first)", "building_address", address)

    refusals = _collect(session, f"""
        SELECT rownum, building, b_matches FROM {STAGE} WHERE b_id IS NULL OR b_matches > 1 ORDER BY rownum
    """, {}, unknown)
    refusals += flat_refusals(session, sd)
    session.execute(text(f"""
        UPDATE {STAGE} s SET h_id = h.id FROM households h
        WHERE h.building_id = s.b_id AND h.entrance = s.entrance AND h.floor = s.floor AND h.room = s.room
    """))
    # the person: ID number under every configured key, else name + household (a stored ID
    # number that differs is another person of the same name)
    session.execute(text(f"""
        UPDATE {STAGE} s SET r_id = m.id, r_household = m.household_id
        FROM (SELECT DISTINCT ON (s2.rownum) s2.rownum, r.id, r.household_id
              FROM {STAGE} s2 CROSS JOIN LATERAL unnest(s2.id_lookup) k(idx)
              JOIN residents r ON r.id_number_index = k.idx ORDER BY s2.rownum, r.id) m
        WHERE s.rownum = m.rownum
    """))
    session.execute(text(f"""
        UPDATE {STAGE} s SET r_id = m.id, r_household = m.household_id
        FROM (SELECT DISTINCT ON (s2.rownum) s2.rownum, r.id, r.household_id
              FROM {STAGE} s2 JOIN residents r ON r.household_id = s2.h_id AND r.name = s2.name
              WHERE s2.r_id IS NULL AND (s2.id_index IS NULL OR r.id_number_index IS NULL)
              ORDER BY s2.rownum, r.id) m
        WHERE s.rownum = m.rownum
    """))
    refusals += _collect(session, f"""
        SELECT rownum, first FROM (
            SELECT rownum, min(rownum) OVER (PARTITION BY r_id) AS first FROM {STAGE} WHERE r_id IS NOT NULL
        ) d WHERE rownum <> first ORDER BY rownum
    """, {}, lambda row: Refusal(row[0], "duplicate", f"与第 {row[1]} 行是同一居民 / the same resident as row "
                                 f"{row[1]} (the first is kept)", "name"))
    if not options.update:
        refusals += _collect(session, f"""
            SELECT s.rownum, s.id_masked, {_flat_sql()}, s.r_household IS NOT DISTINCT FROM s.h_id
            FROM {STAGE} s JOIN households h ON h.id = s.r_household JOIN buildings b ON b.id = h.building_id
            ORDER BY s.rownum
        """, {}, _registered)
    return refusals


def _registered(row) -> Refusal:
    rownum, masked, flat, same = row
    who = f"公民身份号码 {masked}" if masked else "同名居民"
    who_en = f"ID number {masked}" if masked else "a resident of this name"
    if same:
        return Refusal(rownum, "duplicate", f"{who}已登记在该户（{flat}），修改请用 --update / {who_en} is already "
                       f"registered in this household ({flat}): use --update to change the record", "id_number", masked)
    return Refusal(rownum, "living_elsewhere", f"{who}已登记在另一户：{flat}，未迁移；确需迁入请用 --update / {who_en} "
                   f"already lives in another household: {flat}; not moved (use --update to move the person)",
                   "id_number", masked)


def _write(session: Session, report: ImportReport, options: ImportOptions) -> None:
    created = session.execute(text(f"""
        WITH flats AS (
            SELECT DISTINCT b_id, entrance, floor, room FROM {STAGE} WHERE h_id IS NULL
        ), added AS (
            INSERT INTO households (building_id, entrance, floor, room, occupancy, member_count)
            SELECT b_id, entrance, floor, room, 'owner', 0 FROM flats ORDER BY b_id, entrance, floor, room
            RETURNING id, building_id, entrance, floor, room
        ), linked AS (
            UPDATE {STAGE} s SET h_id = a.id FROM added a
            WHERE s.h_id IS NULL AND a.building_id = s.b_id AND a.entrance = s.entrance AND a.floor = s.floor
              AND a.room = s.room
        )
        SELECT count(*) FROM added
    """)).scalar_one()
    report.households_added = created
    if options.update:
        _update_existing(session, report)
    session.execute(text(f"""
        UPDATE {STAGE} s SET new_id = n.id
        FROM (SELECT rownum, nextval(pg_get_serial_sequence('all_residents', 'id')) AS id
              FROM (SELECT rownum FROM {STAGE} WHERE r_id IS NULL ORDER BY rownum) o) n
        WHERE s.rownum = n.rownum
    """))
    session.execute(text(f"""
        INSERT INTO residents (id, household_id, name, sex, birth_year, relation, residence_type, party_member,
                               id_number_enc, id_number_masked, id_number_index, phone_enc, phone_masked, phone_index)
        SELECT new_id, h_id, name, CAST(sex AS sex), birth_year, relation, CAST(residence_type AS residence_type),
               party_member, id_enc, id_masked, id_index, phone_enc, phone_masked, phone_index
        FROM {STAGE} WHERE new_id IS NOT NULL ORDER BY rownum
    """))
    session.execute(text(f"""
        INSERT INTO resident_key_groups (resident_id, key_group)
        SELECT new_id, unnest(groups) FROM {STAGE} WHERE new_id IS NOT NULL AND groups IS NOT NULL
    """))
    report.ids = list(session.execute(text(
        f"SELECT new_id FROM {STAGE} WHERE new_id IS NOT NULL ORDER BY rownum")).scalars())
    report.added = len(report.ids)
    report.loaded = report.added + report.changed
    _recount(session)
    counts = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE b.grid_l1_id IS NOT NULL), count(*) FILTER (WHERE b.grid_l1_id IS NULL)
        FROM {STAGE} s JOIN buildings b ON b.id = s.b_id
    """)).one()
    report.membership = {"in_grid": counts[0], "in_no_grid": counts[1]}
    report.subdistricts = dict(session.execute(text(
        f"SELECT subdistrict_code, count(*) FROM {STAGE} GROUP BY 1 ORDER BY 1")).all())
    record(session, actor=options.actor or "gisgrid", action="import", outcome="ok", object_type="residents",
           object_id=report.file[:100], detail={
               "file": report.file, "rows": report.rows, "added": report.added, "changed": report.changed,
               "unchanged": report.unchanged, "moved": len(report.moves), "refused": report.refused_rows,
               "households_added": report.households_added, "update": options.update})


_DIFFERS = """(r.name, r.sex::text, r.birth_year, r.relation, r.residence_type::text, r.party_member, r.household_id)
        IS DISTINCT FROM (s.name, s.sex, s.birth_year, s.relation, s.residence_type, s.party_member, s.h_id)
    OR (s.id_index IS NOT NULL AND r.id_number_index IS DISTINCT FROM s.id_index)
    OR (s.phone_index IS NOT NULL AND r.phone_index IS DISTINCT FROM s.phone_index)
    OR (s.groups IS NOT NULL AND ARRAY(SELECT unnest(s.groups) ORDER BY 1)
        IS DISTINCT FROM ARRAY(SELECT k.key_group::text FROM resident_key_groups k WHERE k.resident_id = r.id
                               ORDER BY 1))"""


def _update_existing(session: Session, report: ImportReport) -> None:
    """Matched residents: only those that differ are written, moves listed first."""
    session.execute(text(f"""
        UPDATE {STAGE} s SET changed = ({_DIFFERS}) FROM residents r WHERE r.id = s.r_id
    """))
    report.moves = [Move(*row) for row in session.execute(text(f"""
        SELECT s.rownum, s.name, s.id_masked, {_flat_sql('fh', 'fb')},
               {_flat_sql('th', 'tb')}
        FROM {STAGE} s JOIN households fh ON fh.id = s.r_household JOIN buildings fb ON fb.id = fh.building_id
        JOIN households th ON th.id = s.h_id JOIN buildings tb ON tb.id = th.building_id
        WHERE s.r_household <> s.h_id ORDER BY s.rownum
    """))]
    session.execute(text(f"""
        UPDATE residents r SET name = s.name, sex = CAST(s.sex AS sex), birth_year = s.birth_year,
            relation = s.relation, residence_type = CAST(s.residence_type AS residence_type),
            party_member = s.party_member, household_id = s.h_id,
            id_number_enc = CASE WHEN s.id_index IS NOT NULL AND r.id_number_index IS DISTINCT FROM s.id_index
                                 THEN s.id_enc ELSE r.id_number_enc END,
            id_number_masked = coalesce(s.id_masked, r.id_number_masked),
            id_number_index = coalesce(s.id_index, r.id_number_index),
            phone_enc = CASE WHEN s.phone_index IS NOT NULL AND r.phone_index IS DISTINCT FROM s.phone_index
                             THEN s.phone_enc ELSE r.phone_enc END,
            phone_masked = coalesce(s.phone_masked, r.phone_masked),
            phone_index = coalesce(s.phone_index, r.phone_index)
        FROM {STAGE} s WHERE r.id = s.r_id AND s.changed
    """))
    session.execute(text(f"""
        UPDATE resident_key_groups k SET ended_on = current_date, end_reason = 'revoked' FROM {STAGE} s
        WHERE k.resident_id = s.r_id AND s.changed AND s.groups IS NOT NULL AND NOT k.key_group = ANY(s.groups)
    """))
    session.execute(text(f"""
        INSERT INTO resident_key_groups (resident_id, key_group)
        SELECT r_id, unnest(groups) FROM {STAGE} WHERE changed AND groups IS NOT NULL
        ON CONFLICT DO NOTHING
    """))
    report.changed, report.unchanged = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE changed), count(*) FILTER (WHERE NOT changed) FROM {STAGE}
        WHERE r_id IS NOT NULL
    """)).one()


def _recount(session: Session) -> None:
    """Every household the import touched (flats of the rows, flats people moved out of) has
    ``member_count`` = its residents; a vacant one with residents now is lived in (自住)."""
    session.execute(text(f"""
        UPDATE households h SET member_count = c.n,
            occupancy = CASE WHEN h.occupancy = 'vacant' AND c.n > 0 THEN 'owner' ELSE h.occupancy END
        FROM (SELECT t.id, (SELECT count(*) FROM residents r WHERE r.household_id = t.id) AS n
              FROM (SELECT h_id AS id FROM {STAGE} UNION SELECT r_household FROM {STAGE}
                    WHERE r_household IS NOT NULL) t) c
        WHERE h.id = c.id AND (h.member_count <> c.n OR (h.occupancy = 'vacant' AND c.n > 0))
    """))

